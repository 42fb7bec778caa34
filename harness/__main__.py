"""The ``memreplay`` command (and ``python -m memreplay``).

The command line is imported when the command runs, not when this module is: the worker
processes a local cluster spawns import the script that started them (``memreplay``, which
imports this module), and should not pay for the CLI's imports (matplotlib, bokeh, scipy) at
every start, nor be caught halfway through them by a Ctrl-C meant for memreplay."""

import sys


def main() -> int:
    from memreplay.cli import main as run_command_line

    return run_command_line()


if __name__ == "__main__":
    sys.exit(main())
