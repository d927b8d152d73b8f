"""Weight files into the cache, once: plain URLs through a careful downloader, hub files through huggingface_hub.

The cache is `$GHOSTZOO_HOME` (default `~/.cache/ghostzoo`): `downloads/` holds the files as published,
`converted/` our checkpoints made from them, `locks/` the lock files. A file appears under its final name only
complete and verified (downloaded to a temporary name beside it, sha256 checked, then renamed), so a reader never
sees half a file, and nothing half-written stays behind after a failure (a cut connection, a full disk, a wrong
hash). An exclusive `fcntl` lock per file makes concurrent processes (the ranks of a distributed run) download once:
the first one fetches, the others wait and then find the file. Hub files go to huggingface_hub's own cache
(`HF_HOME`, `HF_ENDPOINT` and `HF_HUB_OFFLINE` apply).
"""
import contextlib
import errno
import fcntl
import hashlib
import os
import urllib.error
import urllib.request
from typing import Iterator, Optional

from ..progress import Progress

CHUNK = 1 << 20
TIMEOUT_S = 30


class WeightsError(ValueError):
    """Weights that cannot be fetched, verified or written (one line, naming the file and what to do)."""


def home() -> str:
    """The cache folder: $GHOSTZOO_HOME, else ~/.cache/ghostzoo."""
    return os.path.abspath(os.path.expanduser(os.environ.get("GHOSTZOO_HOME") or "~/.cache/ghostzoo"))


def cache_path(*parts: str) -> str:
    return os.path.join(home(), *parts)


def sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def check_hash(path: str, sha256: Optional[str], prefix: str = "", what: str = "") -> None:
    """Raise WeightsError unless the file's sha256 equals `sha256` (when known) and starts with `prefix`."""
    if not sha256 and not prefix:
        return
    actual = sha256_of(path)
    if (sha256 and actual != sha256.lower()) or not actual.startswith(prefix.lower()):
        expected = sha256 or f"{prefix}..."
        raise WeightsError(f"{what or path}: sha256 {actual} does not match the published {expected}; the file is "
                           f"damaged or not the one its tag names")


@contextlib.contextmanager
def file_lock(name: str) -> Iterator[None]:
    """An exclusive lock on `locks/<name>.lock` in the cache, held for the `with` block (waits for another holder)."""
    folder = cache_path("locks")
    try:
        os.makedirs(folder, exist_ok=True)
        handle = open(os.path.join(folder, name + ".lock"), "a")
    except OSError as e:
        raise WeightsError(f"the weights cache {home()} is not writable ({e.strerror}): set GHOSTZOO_HOME to a "
                           f"writable folder, or pass the weights file itself") from None
    with handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def download(url: str, dest: str, sha256: Optional[str] = None, prefix: str = "") -> str:
    """`dest`, downloaded from `url` unless a verified copy is there (a damaged one is fetched again)."""
    if os.path.isfile(dest) and not os.access(os.path.dirname(dest), os.W_OK):
        check_hash(dest, sha256, prefix)  # a read-only cache: use what is there, if it is right
        return dest
    with file_lock(os.path.basename(dest)):
        if os.path.isfile(dest):
            try:
                check_hash(dest, sha256, prefix)
                return dest
            except WeightsError:
                os.remove(dest)  # damaged in the cache: fetched again below
        try:
            os.makedirs(os.path.dirname(dest), exist_ok=True)
        except OSError as e:
            raise WeightsError(f"the weights cache {home()} is not writable ({e.strerror}): set GHOSTZOO_HOME to a "
                               f"writable folder, or place the file at {dest} by hand") from None
        part = f"{dest}.part{os.getpid()}"
        try:
            _fetch(url, part)
            check_hash(part, sha256, prefix, what=url)
            os.replace(part, dest)
        finally:
            if os.path.exists(part):
                os.remove(part)
    return dest


def _fetch(url: str, part: str) -> None:
    """Stream `url` into `part` with a progress bar; errors become one WeightsError line."""
    by_hand = f"download it yourself and place it at {os.path.join(os.path.dirname(part), os.path.basename(url))}"
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response, open(part, "wb") as out:
            total = response.headers.get("Content-Length")
            total = int(total) if total and total.isdigit() else None
            with Progress(total, f"downloading {os.path.basename(url)}", unit="B") as progress:
                received = 0
                for block in iter(lambda: response.read(CHUNK), b""):
                    out.write(block)
                    received += len(block)
                    progress.update(len(block))
            if total is not None and received != total:
                raise WeightsError(f"download of {url} stopped after {received} of {total} bytes; try again, or "
                                   f"{by_hand}")
    except WeightsError:
        raise
    except urllib.error.HTTPError as e:
        raise WeightsError(f"cannot download {url}: HTTP {e.code} {e.reason}; {by_hand}") from None
    except (urllib.error.URLError, TimeoutError, ConnectionError) as e:
        reason = getattr(e, "reason", e)
        raise WeightsError(f"cannot download {url} ({reason}): no network? {by_hand}") from None
    except OSError as e:
        if e.errno == errno.ENOSPC:
            raise WeightsError(f"the disk is full: cannot write {part} (downloading {url}); free space or set "
                               f"GHOSTZOO_HOME to another disk") from None
        if e.errno in (errno.EACCES, errno.EROFS, errno.EPERM):
            raise WeightsError(f"the weights cache {home()} is not writable ({e.strerror}): set GHOSTZOO_HOME to a "
                               f"writable folder") from None
        if isinstance(e, (ConnectionError, TimeoutError)) or e.errno is None:
            raise WeightsError(f"download of {url} failed ({e}); try again, or {by_hand}") from None
        raise


def hub_download(repo_id: str, filename: str) -> str:
    """A file of a Hugging Face hub repository, through huggingface_hub and its cache."""
    try:
        from huggingface_hub import hf_hub_download
    except ImportError:
        raise WeightsError(f"fetching {repo_id}/{filename} needs huggingface_hub (pip install huggingface_hub), or "
                           f"download the file yourself and pass its path") from None
    try:
        return hf_hub_download(repo_id, filename)
    except Exception as e:  # offline with nothing cached, unknown repository, connection errors
        first = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
        endpoint = os.environ.get("HF_ENDPOINT") or "https://huggingface.co"
        raise WeightsError(f"cannot fetch {filename} of {repo_id} from the hub ({type(e).__name__}: {first}); "
                           f"download {endpoint}/{repo_id}/resolve/main/{filename} yourself and pass its path "
                           f"(or place it in the hub cache, HF_HOME)") from None
