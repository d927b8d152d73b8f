"""What every entry script shares: help, config loading, and turning user errors into a message and exit code."""
import sys
from typing import Callable, Optional, Sequence

from .config import Config, build_config, print_help, wants_help

USER_ERRORS = (ValueError, FileNotFoundError, NotADirectoryError, KeyError, PermissionError, FloatingPointError)


def run_main(prog: str, description: str, body: Callable[[Config], int],
             argv: Optional[Sequence[str]] = None) -> int:
    """Parse `argv` into a Config, run `body(cfg)`; print user errors as `error: ...` and return 2."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if wants_help(argv):
        print_help(prog, description)
        return 0
    try:
        cfg = build_config(argv)
        return body(cfg)
    except USER_ERRORS as e:
        message = e.args[0] if isinstance(e, KeyError) and e.args else e
        sys.stderr.write(f"{prog}: error: {message}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write(f"{prog}: interrupted; the last saved checkpoint is kept and can be resumed\n")
        return 130


def run_argparse(prog: str, parser, body: Callable, argv: Optional[Sequence[str]] = None,
                 errors: tuple = ()) -> int:
    """Parse `argv` with an argparse parser and run `body(args) -> int`; user errors (and `errors`) print
    `PROG: error: ...` and return 2; argparse's own usage errors return its exit code."""
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:
        return int(e.code or 0)
    try:
        return body(args)
    except (*USER_ERRORS, *errors) as e:
        sys.stderr.write(f"{prog}: error: {e}\n")
        return 2
