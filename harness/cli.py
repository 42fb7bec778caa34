"""The ``memreplay`` command line: parse, call the command's one function, print what it said.
The commands themselves are in :mod:`memreplay.kinds` (one module per kind of result) and
:mod:`memreplay.commands`. User errors are one line on stderr and exit code 2."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import textwrap
from collections.abc import Iterator, Sequence
from typing import NoReturn

from memreplay.commands import COMMANDS
from memreplay.compat import DistributedChanged
from memreplay.corpora import CorpusError
from memreplay.errors import UserError
from memreplay.kinds import ReportContext, write_report
from memreplay.kinds.base import Command, Said
from memreplay.version import __version__
from memreplay.workloads import WorkloadError

__all__ = ["QUESTIONS", "build_parser", "main"]

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130
USER_ERRORS = (UserError, CorpusError, WorkloadError)  # one line each, exit code 2
# The order `memreplay --help` lists the commands in: the questions a user comes with.
QUESTIONS = (
    "How much memory does each task need, and how does it grow?",
    "Which lines hold the memory?",
    "How much memory does the scheduler hold?",
    "Which cluster shape, on which machine?",
    "Did a commit make it worse?",
    "A pipeline of your own",
    "Workloads, data and reports",
    "Measuring memreplay itself",
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, not usage plus a line
        self.exit(EXIT_USER_ERROR, f"{self.prog}: error: {message}\n")


def commands_by_question(commands: Sequence[Command] = COMMANDS) -> dict[str, list[Command]]:
    grouped: dict[str, list[Command]] = {question: [] for question in QUESTIONS}
    for command in commands:
        if command.question not in grouped:  # a new kind's question goes to the end
            grouped[command.question] = []
        grouped[command.question].append(command)
    return {question: listed for question, listed in grouped.items() if listed}


def _command_list(commands: Sequence[Command], width: int = 100) -> str:
    name_width = max(len(command.name) for command in commands) + 2
    lines = []
    for question, listed in commands_by_question(commands).items():
        lines += ["", question]
        for command in listed:
            aliases = f" (also: {', '.join(command.aliases)})" if command.aliases else ""
            lines.append(textwrap.fill(command.summary + aliases, width,
                                       initial_indent=f"  {command.name:<{name_width}}",
                                       subsequent_indent=" " * (name_width + 2)))
    return "\n".join(lines[1:])


class _TopParser(_Parser):
    """``memreplay --help``: the commands by the question they answer, one line each, instead of
    argparse's single list."""

    commands: Sequence[Command] = ()

    def format_help(self) -> str:
        return (f"{self.format_usage()}\n{textwrap.fill(self.description or '', 100)}\n\n"
                f"{_command_list(self.commands)}\n\noptions:\n  -h, --help  show this message\n"
                "  --version   print memreplay's version\n\n"
                "`memreplay COMMAND --help` lists a command's options; the documentation: docs/ in its source.\n")


def build_parser(commands: Sequence[Command] = COMMANDS) -> argparse.ArgumentParser:
    """The parser of every command, each with its own options; ``--help`` lists the commands by
    the question they answer."""
    parser = _TopParser(prog="memreplay",
                        description="Replay Dask pipelines and measure their memory: per-task peaks, the lines that "
                                    "hold them, the scheduler's footprint, the cluster shape to use, and regressions.")
    parser.commands = commands
    parser.add_argument("--version", action="version", version=f"memreplay {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for command in commands:
        sub = subparsers.add_parser(command.name, aliases=list(command.aliases), help=command.summary,
                                    description=command.description or command.summary)
        command.configure(sub)
        sub.set_defaults(handler=command)
    return parser


@contextlib.contextmanager
def _working_directory_importable() -> Iterator[None]:
    """``memreplay run my_pipeline:build`` finds ./my_pipeline.py, as ``python -m`` would; the
    interpreter's search path is put back afterwards."""
    saved = list(sys.path)
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        yield
    finally:
        sys.path[:] = saved


def _refuse_shadowing_memreplay() -> None:
    """The processes memreplay starts (each case's scheduler, the size ladders' and profiles'
    children) import from the working directory first, as ``python -m`` does, to find a user's
    ``my_pipeline.py``. memreplay's one import name is ``memreplay``, so only a ./memreplay.py, or
    a ./memreplay folder that is not memreplay itself, could hide it there."""
    from pathlib import Path

    import memreplay

    here, own = Path.cwd() / "memreplay", Path(memreplay.__file__).resolve().parent
    if here.with_suffix(".py").exists() or (here.is_dir() and here.resolve() != own):
        shown = "./memreplay.py" if here.with_suffix(".py").exists() else "./memreplay"
        raise UserError(f"{shown} in the working directory would hide memreplay itself in the processes it starts; "
                        f"run from another directory, or rename {shown}")


def _report_line(said: Said) -> str:
    """Write the run's ``report.html`` and say where; a report that cannot be written is one
    line, and the run (already saved) is kept."""
    try:
        from memreplay.plan.distributed_config import kill_fraction

        return f"report: {write_report(said.run, said.record, ReportContext(kill_fraction=kill_fraction()))}"  # type: ignore[arg-type]
    except Exception as error:  # the run is saved whatever happens to its page; `memreplay report RUN` retries
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        return f"report: not written ({reason}); the run is kept: memreplay report {said.run}"


def _print(said: Said) -> None:
    print(said.text, file=sys.stderr if said.to_stderr else sys.stdout)
    if said.run is not None and said.record is not None:
        print(_report_line(said))


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as parsed:  # --help, --version, or a bad option (already said in one line)
        return parsed.code if isinstance(parsed.code, int) else EXIT_USER_ERROR
    if args.command is None:  # `memreplay` alone: what it can do, not an error
        parser.print_help()
        return 0
    command: Command = args.handler
    args.command = command.name  # an alias runs as its command
    try:
        if command.starts_processes:
            _refuse_shadowing_memreplay()
        with _working_directory_importable():
            said = command.call(args)
        _print(said)
        return said.code
    except USER_ERRORS as error:
        print(f"memreplay: error: {error}", file=sys.stderr)
        return EXIT_USER_ERROR
    except DistributedChanged as error:  # not the user's fault, but worth one clear line
        print(f"memreplay: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("memreplay: interrupted; records already written are kept", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `memreplay list | head`: the reader left, nothing is wrong
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
