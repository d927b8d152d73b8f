"""The one error path of every entry script and tool: parse, run, and turn user errors into one `PROG: error:`
line and exit status 2 (no traceback); Ctrl-C gives 130, a run stopped on a signal 128 + its number."""
import sys
from typing import Callable, Optional, Sequence

USER_ERRORS = (ValueError, FileNotFoundError, FileExistsError, NotADirectoryError, IsADirectoryError, KeyError,
               PermissionError, FloatingPointError)


def run_main(prog: str, parse: Callable[[Sequence[str]], object], body: Callable[[object], int],
             argv: Optional[Sequence[str]] = None) -> int:
    """`body(parse(argv))`; argv defaults to sys.argv[1:]. `parse` may be an argparse parser's parse_args."""
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        return body(parse(argv))
    except SystemExit as e:  # --help, or argparse's own usage error (already printed)
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 2)
    except USER_ERRORS as e:
        message = e.args[0] if isinstance(e, KeyError) and e.args else e
        sys.stderr.write(f"{prog}: error: {message}\n")
        return 2
    except KeyboardInterrupt as e:  # Ctrl-C, or a run stopped on a signal (its own line and 128 + signal)
        summary = getattr(e, "summary", "interrupted; the last saved checkpoint is kept and can be resumed")
        sys.stderr.write(f"{prog}: {summary}\n")
        return getattr(e, "exit_status", 130)
