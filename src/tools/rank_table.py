"""HCCL rank-table tool (replaces the model zoo's dependency on hccl_tools).

    python -m src.tools.rank_table write --device_ips 192.168.100.101,192.168.101.101 --server_ip 10.0.0.1
    python -m src.tools.rank_table write --hccn_conf /etc/hccn.conf --devices 0-7 --server_ip 10.0.0.1
    python -m src.tools.rank_table merge server0.json server1.json -o hccl_16p.json
    python -m src.tools.rank_table check hccl_8p_01234567_10.0.0.1.json
    python -m src.tools.rank_table plan hccl_8p_01234567_10.0.0.1.json [--server SERVER_ID_OR_INDEX]

`write` names the file as hccl_tools did (hccl_<n>p_<device ids>_<server ip>.json) unless -o is given. `plan`
prints what scripts/run_distribute_train.sh starts on this server: `RANK_SIZE=<n>`, then `<rank id> <device id>`
per local device.
"""
import argparse
import json
import sys
from typing import List

from ..cli import run_main
from ..rank_table import (RankTableError, build_rank_table, merge_rank_tables, parse_rank_table, read_hccn_conf,
                            select_server, validate_dump)


def parse_devices(text: str) -> List[int]:
    """"0-7" or "0,1,4,5" (or a mix) as a list of device ids."""
    ids: List[int] = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        first, dash, last = part.partition("-")
        if not first.isdigit() or (dash and not last.isdigit()):
            raise RankTableError(f"--devices '{text}': expected ids like 0-7 or 0,1,2,3")
        ids.extend(range(int(first), int(last) + 1) if dash else [int(first)])
    if not ids or len(set(ids)) != len(ids):
        raise RankTableError(f"--devices '{text}': expected distinct device ids")
    return ids


def _write(args) -> int:
    if bool(args.device_ips) == bool(args.hccn_conf):
        raise RankTableError("give the device IPs with exactly one of --device_ips or --hccn_conf")
    if args.device_ips:
        ips = [ip.strip() for ip in args.device_ips.split(",") if ip.strip()]
        ids = parse_devices(args.devices) if args.devices else list(range(len(ips)))
    else:
        known = read_hccn_conf(args.hccn_conf)
        ids = parse_devices(args.devices) if args.devices else sorted(known)
        absent = [i for i in ids if i not in known]
        if absent:
            raise RankTableError(f"'{args.hccn_conf}' has no address for devices {absent}")
        ips = [known[i] for i in ids]
    output = args.output or f"hccl_{len(ids)}p_{''.join(str(i) for i in ids)}_{args.server_ip}.json"
    table = validate_dump(build_rank_table(ips, args.server_ip, ids), output)
    print(f"wrote {output}: {table.size} devices on server {args.server_ip}")
    return 0


def _merge(args) -> int:
    tables = []
    for path in args.tables:
        parse_rank_table(path)  # each input must be valid on its own
        with open(path) as f:
            tables.append(json.load(f))
    table = validate_dump(merge_rank_tables(tables), args.output)
    print(f"wrote {args.output}: {table.size} devices on {len(table.servers)} servers")
    return 0


def _check(args) -> int:
    table = parse_rank_table(args.table)
    print(f"{args.table}: version {table.version}, {table.size} ranks on {len(table.servers)} servers")
    for server in table.servers:
        devices = table.server_devices(server)
        print(f"  server {server}: devices {','.join(str(d.device_id) for d in devices)} -> ranks "
              f"{','.join(str(d.rank_id) for d in devices)}")
    return 0


def _plan(args) -> int:
    table = parse_rank_table(args.table)
    server = select_server(table, args.server)
    print(f"RANK_SIZE={table.size}")
    for device in table.server_devices(server):
        print(f"{device.rank_id} {device.device_id}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"python -m {__package__}.rank_table", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    write = sub.add_parser("write", help="write a table for the devices of this server")
    write.add_argument("--device_ips", default="", help="comma-separated device IPs, in device-id order")
    write.add_argument("--hccn_conf", default="", help="read the IPs from this hccn.conf (address_<id>=<ip>)")
    write.add_argument("--devices", default="", help="device ids, e.g. 0-7 or 0,1,2,3 (default: all given)")
    write.add_argument("--server_ip", required=True, help="this server's IP (its server_id in the table)")
    write.add_argument("-o", "--output", default="")
    write.set_defaults(run=_write)
    merge = sub.add_parser("merge", help="join one-server tables into a multi-server table")
    merge.add_argument("tables", nargs="+")
    merge.add_argument("-o", "--output", required=True)
    merge.set_defaults(run=_merge)
    check = sub.add_parser("check", help="validate a table and summarise it")
    check.add_argument("table")
    check.set_defaults(run=_check)
    plan = sub.add_parser("plan", help="the ranks and devices this server runs")
    plan.add_argument("table")
    plan.add_argument("--server", default="", help="server id or index (default: the only server, or the one "
                                                   "whose id is one of this machine's addresses)")
    plan.set_defaults(run=_plan)
    return parser


def main(argv=None) -> int:
    return run_main("rank_table", build_parser().parse_args, lambda args: args.run(args), argv)


if __name__ == "__main__":
    sys.exit(main())
