"""Damage sweep of the structural image check against MindSpore's decoder.

    python -m src.tools.image_sweep [--quick] [--count N] [--seed 0] [--workers 1] [--timeout 20]
                                    [--flagged-sample N] [--csv out.csv] [--json out.json] [--save DIR]
                                    [--check-module MOD] [--reuse-decoded earlier.csv]
    python -m src.tools.image_sweep --bench [--files 2000]

Generates baseline and progressive JPEGs (several sizes and chroma subsamplings, grayscale and CMYK, with and
without restart intervals) and PNGs with Pillow, then mutates every byte of every JPEG header and table segment
(APPn, DQT, DHT, SOF, DRI, SOS, COM, wherever they lie: progressive files carry DHT / SOS segments between their
scans) and of the first scan's data, and every byte of a PNG's chunks (the first IDAT included), each byte with
several mutations (+1, -1, xor 0xFF, set 0x00, set 0xFF, a random value; a mutation that leaves the byte as it
was is skipped). Each mutated file is checked with the default structural check (src/data/image_check.py) and
decoded by MindSpore's decoder in forked children (isolated_decode.py): outcome ok, error, crash:<SIGNAL> or hang.
Every file the check passes is decoded; of the flagged ones all, or a seeded sample (--flagged-sample N: a crash
costs a fork of about 40 ms, and on a shared machine decoding every flagged file takes hours), the rest recorded
as "not decoded".

Requirement: every file that crashes or hangs the decoder is flagged by the check ("misses" must be 0). Also
reported: how many files the check flags that decode fine (false positives) and the check's cost per file.
`--bench` times the check on generated valid files in a temporary folder (warm page cache), for a before/after.
"""
import argparse
import collections
import csv
import importlib
import io
import json
import os
import random
import sys
import tempfile
import threading
import time
from typing import Dict, List, Tuple

import numpy as np

from ..cli import run_main

KINDS = ("+1", "-1", "xor", "zero", "ff", "rand")
NOT_DECODED = "not decoded"


def _picture(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    """A smooth random picture with some noise (photo-like: compresses to a scan of realistic density)."""
    coarse = rng.integers(0, 256, (h // 8 + 2, w // 8 + 2, 3)).astype(np.float32)
    ys, xs = np.linspace(0, h // 8 + 1, h), np.linspace(0, w // 8 + 1, w)
    rows = np.stack([np.interp(xs, np.arange(coarse.shape[1]), coarse[int(y), :, c]) for y in ys
                     for c in range(3)]).reshape(h, 3, w).transpose(0, 2, 1)
    return np.clip(rows + rng.normal(0, 12, rows.shape), 0, 255).astype(np.uint8)


def _save(array: np.ndarray, mode: str, fmt: str, **kwargs) -> bytes:
    from PIL import Image
    buffer = io.BytesIO()
    Image.fromarray(array).convert(mode).save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def base_images(seed: int, quick: bool) -> List[Tuple[str, bytes]]:
    """(name, bytes) of the valid files the sweep mutates."""
    rng = np.random.default_rng(seed)
    out = []
    sizes = [(16, 16)] if quick else [(16, 16), (33, 17), (48, 40)]
    for w, h in sizes:
        pic = _picture(rng, w, h)
        for sub in ((2,) if quick else (0, 1, 2)):
            out.append((f"base_{w}x{h}_s{sub}", _save(pic, "RGB", "JPEG", quality=80, subsampling=sub)))
            out.append((f"prog_{w}x{h}_s{sub}", _save(pic, "RGB", "JPEG", quality=80, subsampling=sub,
                                                      progressive=True)))
        if not quick:
            out.append((f"rst_{w}x{h}", _save(pic, "RGB", "JPEG", quality=80, restart_marker_blocks=2)))
            out.append((f"prog_rst_{w}x{h}", _save(pic, "RGB", "JPEG", quality=80, progressive=True,
                                                   restart_marker_rows=1)))
            out.append((f"gray_{w}x{h}", _save(pic, "L", "JPEG", quality=80)))
            out.append((f"cmyk_{w}x{h}", _save(pic, "CMYK", "JPEG", quality=80)))
            out.append((f"png_rgb_{w}x{h}", _save(pic, "RGB", "PNG")))
            out.append((f"png_pal_{w}x{h}", _save(pic, "P", "PNG")))
        else:
            out.append((f"rst_{w}x{h}", _save(pic, "RGB", "JPEG", quality=80, restart_marker_blocks=1)))
            out.append((f"png_rgb_{w}x{h}", _save(pic, "RGB", "PNG")))
    return out


def jpeg_regions(data: bytes) -> List[Tuple[int, int]]:
    """[start, end) byte ranges of every marker segment (marker included) and of the first scan's data."""
    regions, pos, scans = [(0, 2)], 2, 0
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            break
        marker = data[pos + 1]
        if marker == 0xD9:
            regions.append((pos, pos + 2))
            break
        end = pos + 2 + int.from_bytes(data[pos + 2:pos + 4], "big")
        regions.append((pos, end))
        if marker != 0xDA:
            pos = end
            continue
        scans += 1
        pos = end  # entropy-coded data up to the next marker other than RSTn / stuffed 00
        while pos + 1 < len(data) and not (data[pos] == 0xFF and data[pos + 1] not in (0, *range(0xD0, 0xD8))):
            pos += 1
        if scans == 1:
            regions.append((end, pos))
    return regions


def png_regions(data: bytes) -> List[Tuple[int, int]]:
    """The signature and every chunk up to and including the first IDAT, and IEND."""
    regions, pos = [(0, 8)], 8
    while pos + 12 <= len(data):
        length, kind = int.from_bytes(data[pos:pos + 4], "big"), data[pos + 4:pos + 8]
        end = pos + 12 + length
        regions.append((pos, end))
        if kind == b"IDAT":
            regions.append((len(data) - 12, len(data)))
            break
        pos = end
    return regions


def mutations(bases: List[Tuple[str, bytes]], seed: int) -> List[Tuple[str, int, str, int]]:
    """(base name, offset, kind, new byte value) for every mutation; no-op mutations are left out."""
    rng = random.Random(seed)
    out = []
    for name, data in bases:
        regions = png_regions(data) if data.startswith(b"\x89PNG") else jpeg_regions(data)
        offsets = sorted({i for start, end in regions for i in range(start, min(end, len(data)))})
        for i in offsets:
            old = data[i]
            values = ((old + 1) % 256, (old - 1) % 256, old ^ 0xFF, 0, 0xFF, rng.randrange(256))
            out += [(name, i, kind, v) for kind, v in zip(KINDS, values) if v != old]
    return out


def apply(data: bytes, offset: int, value: int) -> bytes:
    return data[:offset] + bytes((value,)) + data[offset + 1:]


def _check_verdicts(images: List[bytes], module: str) -> Tuple[List[str], float]:
    """The check's verdict ('' = passes, else its message) for every image, and its mean cost in seconds."""
    check = importlib.import_module(module).check_image_stream
    verdicts = []
    start = time.perf_counter()
    for data in images:
        try:
            check(io.BytesIO(data), len(data), "x")
            verdicts.append("")
        except ValueError as e:
            verdicts.append(str(e))
    return verdicts, (time.perf_counter() - start) / max(1, len(images))


def _decode_parallel(images: List[bytes], workers: int, timeout: float) -> List[str]:
    import mindspore.dataset.vision  # noqa: F401  imported once here, inherited by every forked child
    from .isolated_decode import decode_batch
    done = [0]
    lock = threading.Lock()
    started = time.time()

    def tick(n):
        with lock:
            done[0] += n
            if done[0] % 5000 == 0:
                sys.stderr.write(f"decoded {done[0]}/{len(images)} in {time.time() - started:.0f} s\n")

    bounds = np.linspace(0, len(images), workers + 1).astype(int)
    results: List[List[str]] = [[] for _ in range(workers)]

    def work(k):
        results[k] = decode_batch(images[bounds[k]:bounds[k + 1]], timeout, tick)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return [r for part in results for r in part]


def sweep(args) -> Dict:
    """Build, check and decode the mutated files; return the figures (and write the per-file records)."""
    bases = base_images(args.seed, args.quick)
    by_name = dict(bases)
    cases = mutations(bases, args.seed)
    count = args.count or (3000 if args.quick else len(cases))
    if count < len(cases):
        cases = sorted(random.Random(args.seed).sample(cases, count), key=lambda c: (c[0], c[1], c[2]))
    cases = [(name, -1, "none", -1) for name, _ in bases] + cases  # the valid files themselves
    images = [by_name[n] if off < 0 else apply(by_name[n], off, v) for n, off, _, v in cases]
    sys.stderr.write(f"{len(bases)} valid files, {len(images) - len(bases)} mutated files\n")
    verdicts, cost = _check_verdicts(images, args.check_module)
    # Every file the check passes is decoded (a miss can only be among them); of the flagged ones all, or a
    # seeded sample of --flagged-sample (a decoder crash costs a fork, about 40 ms, and most flagged files crash).
    chosen = [i for i, v in enumerate(verdicts) if not v]
    flagged = [i for i, v in enumerate(verdicts) if v]
    if args.flagged_sample and args.flagged_sample < len(flagged):
        flagged = sorted(random.Random(args.seed + 1).sample(flagged, args.flagged_sample))
    chosen = sorted(chosen + flagged)
    start = time.time()
    if args.reuse_decoded:
        outcomes = _earlier_outcomes(args.reuse_decoded, cases)
    else:
        outcomes = [NOT_DECODED] * len(images)
        for i, outcome in zip(chosen, _decode_parallel([images[i] for i in chosen], args.workers, args.timeout)):
            outcomes[i] = outcome
    decode_seconds = time.time() - start
    records = [{"base": n, "offset": off, "mutation": kind, "value": v, "decoder": o, "check": msg}
               for (n, off, kind, v), o, msg in zip(cases, outcomes, verdicts)]
    return _figures(records, bases, cost, decode_seconds), records


def _earlier_outcomes(path: str, cases) -> List[str]:
    """The decoder outcomes of an earlier run's CSV, which must list the same files (same seed, corpus, count)."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    keys = [(r["base"], int(r["offset"]), r["mutation"], int(r["value"])) for r in rows]
    if keys != [tuple(c) for c in cases]:
        raise ValueError(f"'{path}' lists other files than this sweep ({len(rows)} rows, {len(cases)} files here); "
                         f"run it with the seed, --quick and --count of that sweep")
    return [r["decoder"] for r in rows]


def _figures(records: List[Dict], bases, cost: float, decode_seconds: float) -> Dict:
    decoded = [r for r in records if r["decoder"] != NOT_DECODED]
    fatal = [r for r in decoded if r["decoder"].startswith("crash") or r["decoder"] == "hang"]
    flagged = [r for r in records if r["check"]]
    flagged_decoded = [r for r in decoded if r["check"]]
    false_positives = sum(1 for r in flagged_decoded if r["decoder"] == "ok")
    # Scaled to every flagged file when only a sample of them was decoded.
    estimate = false_positives * len(flagged) / max(1, len(flagged_decoded))
    passed_ok = sum(1 for r in decoded if not r["check"] and r["decoder"] == "ok")
    return {
        "valid_files": len(bases), "mutated_files": len(records) - len(bases),
        "valid_files_flagged": sum(1 for r in records if r["offset"] < 0 and r["check"]),
        "flagged": len(flagged), "passed": len(records) - len(flagged),
        "decoded": len(decoded), "flagged_decoded": len(flagged_decoded),
        "decoder_outcomes": dict(collections.Counter(r["decoder"] for r in decoded)),
        "crash_or_hang": len(fatal),
        "misses": sum(1 for r in fatal if not r["check"]),
        "passed_but_decoder_error": sum(1 for r in decoded if r["decoder"] == "error" and not r["check"]),
        "false_positives": false_positives,
        "false_positives_estimated": round(estimate),
        "false_positive_rate": round(estimate / max(1.0, estimate + passed_ok), 4),
        "check_us_per_file_in_memory": round(cost * 1e6, 1),
        "decode_seconds": round(decode_seconds, 1),
    }


def bench(files: int, seed: int, module: str, repeats: int = 5) -> Dict:
    """Mean cost of check_image_structure per file on `files` generated valid JPEGs / PNGs (warm page cache):
    the best of `repeats` passes."""
    check = importlib.import_module(module).check_image_structure
    bases = [data for _, data in base_images(seed, quick=False)]
    with tempfile.TemporaryDirectory() as folder:
        paths = []
        for i in range(files):
            paths.append(os.path.join(folder, f"{i}.img"))
            with open(paths[-1], "wb") as f:
                f.write(bases[i % len(bases)])
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            for path in paths:
                check(path)
            best = min(best, time.perf_counter() - start)
    return {"files": files, "check_module": module, "us_per_file": round(best / files * 1e6, 1)}


def _run(args) -> int:
    if args.workers < 1 or args.timeout <= 0 or args.count < 0 or args.flagged_sample < 0:
        raise ValueError(f"--workers must be >= 1, --timeout > 0, --count and --flagged-sample >= 0; got "
                         f"{args.workers}, {args.timeout}, {args.count}, {args.flagged_sample}")
    if args.bench:
        print(json.dumps(bench(args.files, args.seed, args.check_module)))
        return 0
    for path in (args.csv, args.json):
        if path and not os.path.isdir(os.path.dirname(os.path.abspath(path))):
            raise FileNotFoundError(f"the folder of '{path}' does not exist")
    figures, records = sweep(args)
    if args.csv:
        with open(args.csv, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(records[0]))
            writer.writeheader()
            writer.writerows(records)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"figures": figures, "args": vars(args)}, f, indent=1)
    if args.save:
        _save_fatal(records, dict(base_images(args.seed, args.quick)), args.save)
    print(json.dumps(figures, indent=1))
    return 1 if figures["misses"] or figures["valid_files_flagged"] else 0


def _save_fatal(records: List[Dict], bases: Dict[str, bytes], folder: str) -> None:
    """Write every file that crashed or hung the decoder to `folder` (for a reproduction by hand)."""
    os.makedirs(folder, exist_ok=True)
    for r in records:
        if r["decoder"].startswith("crash") or r["decoder"] == "hang":
            name = f"{r['base']}_{r['offset']}_{r['mutation']}_{r['decoder'].replace(':', '-')}.jpg"
            with open(os.path.join(folder, name), "wb") as f:
                f.write(apply(bases[r["base"]], r["offset"], r["value"]) if r["offset"] >= 0 else bases[r["base"]])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m src.tools.image_sweep", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small sample (3000 mutated files) for tests")
    parser.add_argument("--count", type=int, default=0, help="mutated files, a seeded sample (0: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=1, help="decoding child processes at a time")
    parser.add_argument("--timeout", type=float, default=20.0, help="seconds without progress that count as a hang")
    parser.add_argument("--csv", help="one row per file: base, offset, mutation, value, decoder outcome, verdict")
    parser.add_argument("--json", help="the figures")
    parser.add_argument("--flagged-sample", type=int, default=0, help="decode only this many (a seeded sample) of "
                        "the files the check flags; every file it passes is decoded (0: decode all)")
    parser.add_argument("--reuse-decoded", metavar="CSV", help="take the decoder outcomes from an earlier run's "
                        "--csv (same seed and size) instead of decoding again: re-checks the check alone")
    parser.add_argument("--save", help="folder to write the files that crash or hang the decoder to")
    parser.add_argument("--check-module", default=f"{__package__.rsplit('.', 1)[0]}.data.image_check",
                        help="module whose check_image_stream / check_image_structure is tested")
    parser.add_argument("--bench", action="store_true", help="only time the check on generated valid files")
    parser.add_argument("--files", type=int, default=2000, help="files timed by --bench")
    return run_main("image_sweep", parser.parse_args, _run, argv)


if __name__ == "__main__":
    sys.exit(main())
