"""Run the skemd command line: ``python -m skemd --help``."""

import contextlib
import os
import sys


def _run() -> int:
    # main() turns a Ctrl-C into one line and status 130; this does the same
    # for one that comes while its module is imported.
    try:
        from ._cli import main

        return main()
    except KeyboardInterrupt:
        print("\nskemd: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    status = _run()
    if status == 130:
        # A Ctrl-C that stopped code run by exec() or eval() (as dataclasses and
        # namedtuples are made, while modules load) makes CPython end
        # `python -m` by SIGINT, whatever the exit status: leave at once.
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(status)
    sys.exit(status)
