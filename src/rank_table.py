"""HCCL rank tables (the JSON file `RANK_TABLE_FILE` names for Ascend collective communication): parse, validate,
write, merge, and pick out one server's devices for a launcher.

Layouts read:
  - `server_list`, versions 1.0, 1.1 and 1.2 (what hccl_tools, Ascend Operator and the Atlas A2/A3 tools write):
        {"version": "1.0", "server_count": "1", "status": "completed",
         "server_list": [{"server_id": "10.0.0.1",
                          "device": [{"device_id": "0", "device_ip": "192.168.100.101", "rank_id": "0"}, ...]}]}
    Later versions add per-server and per-device fields (host_ip, container_ip, super_device_id, super_pod_list);
    they are kept in the file and not needed here.
  - the older `group_list` layout (board_id, group_list[].instance_list[] with rank_id, server_id, devices[]).
Tables written here use the 1.0 `server_list` layout, which every CANN release reads.
"""
import ipaddress
import json
import os
import socket
from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from .errors import ConfigError

SERVER_LIST_VERSIONS = ("1.0", "1.1", "1.2")


class RankTableError(ConfigError):
    """A rank table that is missing, unreadable or inconsistent."""


@dataclass(frozen=True)
class RankDevice:
    rank_id: int
    device_id: int
    device_ip: str
    server_id: str


@dataclass(frozen=True)
class RankTable:
    path: str
    version: str
    devices: Tuple[RankDevice, ...]     # sorted by rank_id, which runs 0..size-1

    @property
    def size(self) -> int:
        return len(self.devices)

    @property
    def servers(self) -> List[str]:
        """Server ids in the order of their lowest rank."""
        seen: List[str] = []
        for device in self.devices:
            if device.server_id not in seen:
                seen.append(device.server_id)
        return seen

    def server_devices(self, server_id: str) -> List[RankDevice]:
        return [d for d in self.devices if d.server_id == server_id]

    def rank(self, rank_id: int) -> RankDevice:
        if not 0 <= rank_id < self.size:
            raise RankTableError(f"rank {rank_id} is not in '{self.path}', which holds ranks 0..{self.size - 1}")
        return self.devices[rank_id]


def _int(value, what: str, path: str) -> int:
    try:
        number = int(str(value))
    except (TypeError, ValueError):
        raise RankTableError(f"'{path}': {what} is {value!r}, expected an integer") from None
    if number < 0:
        raise RankTableError(f"'{path}': {what} is {number}, expected a non-negative integer")
    return number


def _ip(value, what: str, path: str) -> str:
    try:
        return str(ipaddress.ip_address(str(value)))
    except ValueError:
        raise RankTableError(f"'{path}': {what} is {value!r}, expected an IP address") from None


def _field(entry: Dict, key: str, where: str, path: str):
    if not isinstance(entry, dict) or key not in entry:
        raise RankTableError(f"'{path}': {where} has no '{key}'")
    return entry[key]


def _server_list_devices(data: Dict, path: str) -> List[RankDevice]:
    servers = _field(data, "server_list", "the table", path)
    if not isinstance(servers, list) or not servers:
        raise RankTableError(f"'{path}': server_list is empty")
    if "server_count" in data and _int(data["server_count"], "server_count", path) != len(servers):
        raise RankTableError(f"'{path}': server_count is {data['server_count']} but server_list has "
                             f"{len(servers)} servers")
    devices = []
    for s, server in enumerate(servers):
        server_id = str(_field(server, "server_id", f"server_list[{s}]", path))
        entries = _field(server, "device", f"server {server_id}", path)
        if not isinstance(entries, list) or not entries:
            raise RankTableError(f"'{path}': server {server_id} lists no devices")
        for d, entry in enumerate(entries):
            where = f"server {server_id} device[{d}]"
            devices.append(RankDevice(rank_id=_int(_field(entry, "rank_id", where, path), f"{where} rank_id", path),
                                      device_id=_int(_field(entry, "device_id", where, path),
                                                     f"{where} device_id", path),
                                      device_ip=_ip(_field(entry, "device_ip", where, path),
                                                    f"{where} device_ip", path),
                                      server_id=server_id))
    return devices


def _group_list_devices(data: Dict, path: str) -> List[RankDevice]:
    devices = []
    for g, group in enumerate(data["group_list"]):
        for i, instance in enumerate(_field(group, "instance_list", f"group_list[{g}]", path)):
            where = f"group_list[{g}] instance[{i}]"
            entries = _field(instance, "devices", where, path)
            if not isinstance(entries, list) or len(entries) != 1:
                raise RankTableError(f"'{path}': {where} must hold exactly one device, found "
                                     f"{len(entries) if isinstance(entries, list) else entries!r}")
            devices.append(RankDevice(rank_id=_int(_field(instance, "rank_id", where, path), f"{where} rank_id", path),
                                      device_id=_int(_field(entries[0], "device_id", where, path),
                                                     f"{where} device_id", path),
                                      device_ip=_ip(_field(entries[0], "device_ip", where, path),
                                                    f"{where} device_ip", path),
                                      server_id=str(_field(instance, "server_id", where, path))))
    return devices


def parse_rank_table(path: str) -> RankTable:
    """Read and validate the rank table at `path`; RankTableError names what is wrong."""
    if not os.path.isfile(path):
        raise RankTableError(f"rank table '{path}' does not exist")
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise RankTableError(f"rank table '{path}' is not readable JSON: {e}") from None
    if not isinstance(data, dict):
        raise RankTableError(f"rank table '{path}' must be a JSON object")
    status = data.get("status", "completed")
    if status != "completed":
        raise RankTableError(f"'{path}': status is '{status}', expected 'completed' (the table is incomplete or "
                             f"still being written)")
    if "server_list" in data:
        version = str(data.get("version", ""))
        if version not in SERVER_LIST_VERSIONS:
            raise RankTableError(f"'{path}': version '{version}' is not a rank-table version this reads; expected "
                                 f"one of {', '.join(SERVER_LIST_VERSIONS)}")
        devices = _server_list_devices(data, path)
    elif "group_list" in data:
        version = "group_list"
        devices = _group_list_devices(data, path)
    else:
        raise RankTableError(f"'{path}' has neither server_list nor group_list: not an HCCL rank table")
    ranks = sorted(d.rank_id for d in devices)
    if ranks != list(range(len(devices))):
        duplicated = sorted({r for r in ranks if ranks.count(r) > 1})
        missing = sorted(set(range(len(devices))) - set(ranks))
        raise RankTableError(f"'{path}': rank ids must run 0..{len(devices) - 1} once each; duplicated "
                             f"{duplicated or 'none'}, missing {missing or 'none'}")
    seen_devices, seen_ips = set(), {}
    for device in devices:
        key = (device.server_id, device.device_id)
        if key in seen_devices:
            raise RankTableError(f"'{path}': device {device.device_id} of server {device.server_id} is listed twice")
        seen_devices.add(key)
        if device.device_ip in seen_ips:
            raise RankTableError(f"'{path}': device_ip {device.device_ip} is given to ranks "
                                 f"{seen_ips[device.device_ip]} and {device.rank_id}")
        seen_ips[device.device_ip] = device.rank_id
    return RankTable(path=path, version=version, devices=tuple(sorted(devices, key=lambda d: d.rank_id)))


def local_addresses() -> List[str]:
    """This machine's host name and IP addresses (to find its entry in a multi-server table)."""
    names = {socket.gethostname()}
    try:
        names.update(socket.gethostbyname_ex(socket.gethostname())[2])
    except OSError:
        pass
    return sorted(names)


def select_server(table: RankTable, server: str = "", addresses: Optional[Iterable[str]] = None) -> str:
    """The server id this machine runs: `server` (an id or a 0-based index into the table's servers), the only
    server of a one-server table, or the server whose id is one of this machine's addresses."""
    servers = table.servers
    if server:
        if server in servers:
            return server
        if server.isdigit() and int(server) < len(servers):
            return servers[int(server)]
        raise RankTableError(f"server '{server}' is not in '{table.path}'; its servers are {', '.join(servers)} "
                             f"(or an index 0..{len(servers) - 1})")
    if len(servers) == 1:
        return servers[0]
    mine = [s for s in servers if s in set(local_addresses() if addresses is None else addresses)]
    if len(mine) == 1:
        return mine[0]
    raise RankTableError(f"'{table.path}' lists {len(servers)} servers ({', '.join(servers)}) and none matches "
                         f"this machine's addresses; set SERVER_ID to this machine's server id or index")


def build_rank_table(device_ips: Sequence[str], server_id: str, device_ids: Optional[Sequence[int]] = None) -> Dict:
    """A version 1.0 table for the devices of one server: device i of `device_ids` (default 0..n-1) has
    `device_ips[i]` and rank i."""
    device_ids = list(range(len(device_ips))) if device_ids is None else list(device_ids)
    if not device_ips:
        raise RankTableError("no device IPs given")
    if len(device_ids) != len(device_ips):
        raise RankTableError(f"{len(device_ids)} device ids but {len(device_ips)} device IPs")
    for device, ip in zip(device_ids, device_ips):
        _ip(ip, f"the IP of device {device}", "device IPs")
    devices = [{"device_id": str(d), "device_ip": ip, "rank_id": str(r)}
               for r, (d, ip) in enumerate(zip(device_ids, device_ips))]
    return {"version": "1.0", "server_count": "1",
            "server_list": [{"server_id": server_id, "device": devices, "host_nic_ip": "reserve"}],
            "status": "completed"}


def merge_rank_tables(tables: Sequence[Dict]) -> Dict:
    """One table over several servers' tables, ranks renumbered server by server in the given order."""
    servers, rank = [], 0
    for table in tables:
        for server in table["server_list"]:
            devices = []
            for device in sorted(server["device"], key=lambda d: int(d["rank_id"])):
                devices.append({**device, "rank_id": str(rank)})
                rank += 1
            servers.append({**server, "device": devices})
    return {"version": "1.0", "server_count": str(len(servers)), "server_list": servers, "status": "completed"}


def read_hccn_conf(path: str = "/etc/hccn.conf") -> Dict[int, str]:
    """{device id: device IP} from the `address_<id>=<ip>` lines of an hccn.conf."""
    if not os.path.isfile(path):
        raise RankTableError(f"'{path}' does not exist: pass the device IPs with --device_ips (hccn_tool -i <id> "
                             f"-ip -g prints them)")
    found = {}
    with open(path) as f:
        for line in f:
            key, _, value = line.strip().partition("=")
            if key.startswith("address_") and key[len("address_"):].isdigit():
                found[int(key[len("address_"):])] = _ip(value.strip(), key, path)
    if not found:
        raise RankTableError(f"'{path}' has no address_<device id>=<ip> lines")
    return found


def validate_dump(table: Dict, path: str) -> RankTable:
    """Write `table` to `path` (atomically) and read it back through the validator."""
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump(table, f, indent=4)
    try:
        checked = parse_rank_table(tmp)
    except RankTableError:
        os.remove(tmp)
        raise
    os.replace(tmp, path)
    return RankTable(path=path, version=checked.version, devices=checked.devices)
