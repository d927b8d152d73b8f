"""Published weights by tag: list them, fetch one into the cache, or show the cache folder.

    python -m src.tools.weights list [PATTERN] [--long]   # e.g. "ghostnet_*", "*.mindcv"
    python -m src.tools.weights fetch TAG                # download, verify, convert; prints our checkpoint's path
    python -m src.tools.weights home                     # the cache folder ($GHOSTZOO_HOME, ~/.cache/ghostzoo)
"""
import argparse
import sys
from typing import List, Optional

from ..cli import run_main
from ..weights.tags import DEFAULT_TAGS, TAGS, WeightTag

PROG = "weights"
COLUMNS = ("tag", "source", "classes", "interp", "crop", "top1", "sha256")


def _row(tag: WeightTag) -> List[str]:
    sha = tag.sha256[:12] + "..." if tag.sha256 else (f"{tag.sha256_prefix}..." if tag.sha256_prefix else "unknown")
    default = " *" if DEFAULT_TAGS.get(tag.model) == tag.name else ""
    return [tag.name + default, tag.source, f"{tag.num_classes} ({tag.label_set})", tag.interpolation,
            f"{tag.input_size}/{tag.eval_resize}", f"{tag.top1:.2f}" if tag.top1 is not None else "unknown", sha]


def table(pattern: str = "", long: bool = False) -> str:
    """The weights table as text (`*` marks each model's default tag)."""
    import fnmatch
    tags = [t for t in TAGS if not pattern or fnmatch.fnmatch(t.name, pattern)]
    if not tags:
        raise ValueError(f"no weights match '{pattern}'")
    rows = [list(COLUMNS)] + [_row(t) for t in tags]
    widths = [max(len(r[i]) for r in rows) for i in range(len(COLUMNS))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    if long:
        for t in tags:
            lines.append(f"{t.name}: {t.location} mean {t.mean} std {t.std}" + (f"; {t.notes}" if t.notes else ""))
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    listing = sub.add_parser("list", help="the weights table")
    listing.add_argument("pattern", nargs="?", default="", help="shell-style pattern of tags")
    listing.add_argument("--long", action="store_true", help="also each file's location, mean / std and notes")
    fetch = sub.add_parser("fetch", help="download, verify and convert the weights of a tag")
    fetch.add_argument("tag", help="model.tag, e.g. ghostnet_100.mindcv")
    sub.add_parser("home", help="print the cache folder")
    return parser


def run(args: argparse.Namespace) -> int:
    if args.command == "list":
        print(table(args.pattern, args.long))
    elif args.command == "home":
        from ..weights.fetch import home
        print(home())
    else:
        from ..weights import get_tag, resolve_pretrained
        tag = get_tag(args.tag)
        print(resolve_pretrained(tag.model, tag.name))
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    return run_main(PROG, _parser().parse_args, run, argv)


if __name__ == "__main__":
    sys.exit(main())
