"""MkDocs hooks: the reference pages that are generated, not written.

A page asks for a generated part with a placeholder on a line of its own,
``<!-- generated: NAME -->``; :func:`on_page_markdown` replaces it with Markdown made from
the code as it is at build time, so the reference cannot drift from the code:

- ``cli``: every ``memreplay`` command, from the argparse parser (``memreplay.cli``);
- ``run-json``: every kind of run record, from the msgspec structs of
  ``harness/records/schema.py`` (the ``Record`` union);
- ``schema-history``: the schema's history, from that module's docstring;
- ``trace``: the trace's lines, from the structs of ``workloads/trace.py``.

A struct's fields carry no docstrings at run time, so a field's description is the comment
written beside it (or just above it) in the source, read with :mod:`ast` and :mod:`tokenize`.
An unknown placeholder fails the build.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import inspect
import io
import os
import re
import textwrap
import tokenize
import types
import typing
from collections.abc import Callable, Iterator
from typing import Any

import msgspec

PLACEHOLDER = re.compile(r"^<!-- generated: ([\w-]+) -->$", re.MULTILINE)
HELP_COLUMNS = "100"  # argparse wraps --help to $COLUMNS: fixed, so the page does not depend on the terminal


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    def generated(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in GENERATORS:
            raise ValueError(f"{page.file.src_path}: unknown placeholder <!-- generated: {name} --> "
                             f"(known: {', '.join(sorted(GENERATORS))})")
        return GENERATORS[name]()

    return PLACEHOLDER.sub(generated, markdown)


# --- text helpers ------------------------------------------------------------------------------


def _cell(text: str) -> str:
    """Text for one cell of a Markdown table: one line, pipes and angle brackets escaped."""
    return " ".join(text.split()).replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def _rst_to_markdown(text: str) -> str:
    """The docstrings here use reST's ``code``; Markdown's is `code`."""
    return re.sub(r"``(.+?)``", r"`\1`", text).replace(":data:", "").replace(":func:", "")


@contextlib.contextmanager
def _columns(width: str) -> Iterator[None]:
    saved = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = width
    try:
        yield
    finally:
        if saved is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = saved


# --- the command line --------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    from memreplay import cli

    build = getattr(cli, "build_parser", None) or cli._build_parser  # public from 0.2.0, private before
    return build()


def _subcommands(parser: argparse.ArgumentParser) -> Iterator[tuple[str, str, list[str], argparse.ArgumentParser]]:
    """(name, one-line help, aliases, parser) of each subcommand, in the order --help lists them."""
    for action in parser._actions:
        if not isinstance(action, argparse._SubParsersAction):
            continue
        listed = {pseudo.dest: pseudo.help or "" for pseudo in action._choices_actions}
        seen: set[int] = set()
        for name, sub in action.choices.items():
            if id(sub) in seen:
                continue
            seen.add(id(sub))
            aliases = [other for other, same in action.choices.items() if same is sub and other != name]
            yield name, listed.get(name, sub.description or ""), aliases, sub


def _argument(action: argparse.Action) -> str:
    if action.option_strings:
        names = ", ".join(f"`{option}`" for option in action.option_strings)
        if action.nargs == 0:
            return names
        metavar = action.metavar or (f"{{{','.join(map(str, action.choices))}}}" if action.choices
                                      else action.dest.upper())
        return f"{names} `{metavar}`"
    metavar = action.metavar or action.dest
    more = {"+": " …", "*": " …", "?": " (optional)", argparse.REMAINDER: " …"}.get(action.nargs, "")  # type: ignore[arg-type]
    if action.choices and not action.metavar:
        metavar = f"{{{','.join(map(str, action.choices))}}}"
    return f"`{metavar}`{more}"


def _default(action: argparse.Action) -> str:
    default = action.default
    if default is None or default is argparse.SUPPRESS or action.nargs == argparse.REMAINDER:
        return ""
    if isinstance(action, argparse._StoreTrueAction | argparse._StoreFalseAction):
        return "off" if default is False else "on"
    if isinstance(default, bool):
        return "on" if default else "off"
    if isinstance(default, list | tuple) and not default:
        return ""
    return f"`{default}`"


def _command_section(path: str, help_text: str, aliases: list[str], sub: argparse.ArgumentParser) -> list[str]:
    anchor = "memreplay-" + path.replace(" ", "-")
    lines = [f"### `memreplay {path}` {{#{anchor}}}", ""]
    if help_text:
        lines += [_cell(help_text[:1].upper() + help_text[1:]) + ("" if help_text.endswith(".") else "."), ""]
    if aliases:
        lines += ["Also called " + ", ".join(f"`memreplay {' '.join([*path.split()[:-1], a])}`" for a in aliases)
                  + " (an alias kept for one release).", ""]
    if sub.description and sub.description != help_text:
        lines += [_cell(sub.description), ""]
    with _columns(HELP_COLUMNS):
        usage = sub.format_usage().rstrip()
    # argparse indents the usage's continuation lines under "usage: "; the page leaves that out
    first, *more = usage.removeprefix("usage: ").splitlines()
    usage = "\n".join([first, *(line.removeprefix(" " * len("usage: ")) for line in more)])
    lines += ["```text", usage, "```", ""]
    formatter = sub._get_formatter()
    rows = []
    for action in sub._actions:
        if isinstance(action, argparse._HelpAction | argparse._SubParsersAction | argparse._VersionAction):
            continue
        if action.help is argparse.SUPPRESS:
            continue
        described = formatter._expand_help(action) if action.help else ""
        if action.required and action.option_strings:
            described = f"(required) {described}"
        rows.append(f"| {_argument(action)} | {_cell(described)} | {_default(action)} |")
    if rows:
        lines += ["| argument | meaning | default |", "|---|---|---|", *rows, ""]
    for name, sub_help, sub_aliases, nested in _subcommands(sub):
        lines += _command_section(f"{path} {name}", sub_help, sub_aliases, nested)
    return lines


def _groups(names: list[str]) -> list[tuple[str, list[str]]]:
    """The commands under the question each answers, as `memreplay --help` groups them (from
    0.2.0: ``memreplay.cli.commands_by_question``); one group of every command before that."""
    from memreplay import cli

    by_question = getattr(cli, "commands_by_question", None)
    if by_question is None:
        return [("Commands", names)]
    groups = [(question, [command.name for command in listed if command.name in names])
              for question, listed in by_question().items()]
    grouped = {name for _, listed in groups for name in listed}
    rest = [name for name in names if name not in grouped]
    return [group for group in groups if group[1]] + ([("Other commands", rest)] if rest else [])


def generate_cli() -> str:
    parser = _parser()
    with _columns(HELP_COLUMNS):
        overview = parser.format_help().rstrip()
    lines = ["What `memreplay --help` prints (and `memreplay` alone):", "", "```text", overview, "```", ""]
    commands = {name: (help_text, aliases, sub) for name, help_text, aliases, sub in _subcommands(parser)}
    for question, names in _groups(list(commands)):
        lines += [f"## {question}", ""]
        for name in names:
            lines += _command_section(name, *commands[name])
    return "\n".join(lines)


# --- msgspec structs -----------------------------------------------------------------------------


def _field_comments(cls: type) -> dict[str, str]:
    """Each field's comment in the source: the one at the end of its line, else the comment
    lines just above it."""
    try:
        source = textwrap.dedent(inspect.getsource(cls))
    except (OSError, TypeError):
        return {}
    comments: dict[int, str] = {}
    code_lines: set[int] = set()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            comments[token.start[0]] = token.string.lstrip("#").strip()
        elif token.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER):
            code_lines.add(token.start[0])
    found: dict[str, str] = {}
    body = ast.parse(source).body[0]
    assert isinstance(body, ast.ClassDef)
    for node in body.body:
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
            continue
        last = node.end_lineno or node.lineno
        if last in comments:
            found[node.target.id] = comments[last]
            continue
        above, line = [], node.lineno - 1
        while line in comments and line not in code_lines:
            above.insert(0, comments[line])
            line -= 1
        if above:
            found[node.target.id] = " ".join(above)
    return found


def _is_struct(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, msgspec.Struct)


def _doc(cls: type) -> str:
    """The struct's own docstring (not one inherited from a base struct), or ''."""
    doc = cls.__dict__.get("__doc__")
    return inspect.cleandoc(doc) if isinstance(doc, str) else ""


def _struct_anchor(cls: type) -> str:
    return f"struct-{cls.__name__.lower()}"


def _constraints(meta: msgspec.Meta) -> str:
    said = []
    for name, sign in (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<")):
        value = getattr(meta, name, None)
        if value is not None:
            said.append(f"{sign} {value}")
    if getattr(meta, "pattern", None):
        said.append(f"matching `{meta.pattern}`")
    return " ".join(said)


def _type_text(tp: Any, link: Callable[[type], str]) -> str:
    """A field's type as a reader of the JSON sees it."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is type(None) or tp is None:
        return "null"
    if tp is Any:
        return "any"
    if tp is str:
        return "string"
    if tp is bool:
        return "boolean"
    if tp is int:
        return "integer"
    if tp is float:
        return "number"
    if _is_struct(tp):
        return link(tp)
    if origin is typing.Annotated:
        inner = _type_text(args[0], link)
        metas = [_constraints(meta) for meta in args[1:] if isinstance(meta, msgspec.Meta)]
        return " ".join([inner, *[m for m in metas if m]])
    if origin is typing.Literal:
        return " or ".join(f'`{msgspec.json.encode(value).decode()}`' for value in args)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_text(arg, link) for arg in args)
    if origin in (list, set, frozenset):
        return f"array of {_type_text(args[0], link)}" if args else "array"
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return f"array of {_type_text(args[0], link)}"
        return "[" + ", ".join(_type_text(arg, link) for arg in args) + "]"
    if origin is dict:
        if not args or args[1] is Any:
            return "object"
        return f"object of {_type_text(args[0], link)} → {_type_text(args[1], link)}"
    return f"`{getattr(tp, '__name__', str(tp))}`"


def _nested_structs(tp: Any) -> Iterator[type]:
    if _is_struct(tp):
        yield tp
        return
    for arg in typing.get_args(tp):
        if not isinstance(arg, msgspec.Meta):
            yield from _nested_structs(arg)


def _path_suffix(tp: Any) -> str:
    """`[]` for an array of structs, `{}` for an object of them, as the JSON path shows it."""
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return _path_suffix(typing.get_args(tp)[0])
    if origin in (typing.Union, types.UnionType):
        suffixes = [_path_suffix(arg) for arg in typing.get_args(tp) if arg is not type(None)]
        return suffixes[0] if suffixes else ""
    if origin in (list, tuple, set, frozenset):
        return "[]"
    if origin is dict:
        return ".<key>"
    return ""


def _default_text(field: msgspec.structs.FieldInfo) -> str:
    if field.default is not msgspec.NODEFAULT:
        value = field.default
    elif field.default_factory is not msgspec.NODEFAULT:
        value = field.default_factory()
    else:
        return "required"
    encoded = msgspec.json.encode(value).decode()
    return f"`{encoded}`" if len(encoded) <= 60 else "(see the struct)"


class _StructPages:
    """Struct tables, each struct once, linked from wherever it is used."""

    def __init__(self) -> None:
        self.done: set[type] = set()
        self.paths: dict[type, list[str]] = {}

    def link(self, cls: type) -> str:
        return f"[{cls.__name__}](#{_struct_anchor(cls)})"

    def collect_paths(self, cls: type, path: str, label: str) -> None:
        """Every JSON path at which a struct appears, under one root (labelled by its kind)."""
        for field in msgspec.structs.fields(cls):
            for nested in _nested_structs(field.type):
                where = f"{path}{'.' if path else ''}{field.encode_name}{_path_suffix(field.type)}"
                known = self.paths.setdefault(nested, [])
                entry = f"`{where}` ({label})" if label else f"`{where}`"
                if entry not in known:
                    known.append(entry)
                    self.collect_paths(nested, where, label)

    def table(self, cls: type, heading: str = "###", tag_row: bool = True) -> list[str]:
        self.done.add(cls)
        lines = [f"{heading} {cls.__name__} {{#{_struct_anchor(cls)}}}", ""]
        if _doc(cls):
            lines += [_rst_to_markdown(_doc(cls)), ""]
        if cls in self.paths:
            lines += ["At " + ", ".join(self.paths[cls]) + ".", ""]
        comments = _field_comments(cls)
        config = cls.__struct_config__
        rows = []
        if tag_row and config.tag_field and config.tag is not None:
            rows.append(f"| `{config.tag_field}` | `{msgspec.json.encode(config.tag).decode()}` | required | "
                        "which kind of line or record this is |")
        for field in msgspec.structs.fields(cls):
            rows.append(f"| `{field.encode_name}` | {_cell(_type_text(field.type, self.link))} | "
                        f"{_cell(_default_text(field))} | {_cell(_rst_to_markdown(comments.get(field.name, '')))} |")
        lines += ["| field | type | default | note |", "|---|---|---|---|", *rows, ""]
        return lines

    def tree(self, root: type) -> list[str]:
        """The root's table, then each struct it reaches that has no table yet, depth first."""
        lines = self.table(root)
        for field in msgspec.structs.fields(root):
            for nested in _nested_structs(field.type):
                if nested not in self.done:
                    lines += self.tree(nested)
        return lines


def generate_run_json() -> str:
    from memreplay.records import schema

    kinds = typing.get_args(schema.Record)
    pages = _StructPages()
    for record in kinds:
        pages.collect_paths(record, "", f"kind {record.__struct_config__.tag}")
    readable = ", ".join(map(str, schema.READABLE_SCHEMA_VERSIONS))
    lines = [f"This memreplay writes **schema {schema.SCHEMA_VERSION}** and reads schemas {readable}.", "",
             "| kind | record struct | about |", "|---|---|---|"]
    for record in kinds:
        lines.append(f"| `{record.__struct_config__.tag}` | {pages.link(record)} | "
                     f"{_cell(_rst_to_markdown(_doc(record)))} |")
    lines.append("")
    for record in kinds:
        lines += [f"## Kind `{record.__struct_config__.tag}` {{#kind-{record.__struct_config__.tag}}}", ""]
        lines += pages.tree(record)
    return "\n".join(lines)


def generate_schema_history() -> str:
    from memreplay.records import schema

    doc = inspect.getdoc(schema) or ""
    history = doc.split("Schema history:", 1)[1] if "Schema history:" in doc else ""
    entries: list[tuple[str, str]] = []
    for line in history.splitlines():
        started = re.match(r"^\s*(\d+)\s+[—-]+\s+(.*)$", line)
        if started:
            entries.append((started.group(1), started.group(2)))
        elif entries and line.strip():
            entries[-1] = (entries[-1][0], f"{entries[-1][1]} {line.strip()}")
    if not entries:
        raise ValueError("harness/records/schema.py: its docstring has no 'Schema history:' to generate from")
    return "\n".join(f"- **{number}**: {_rst_to_markdown(text)}" for number, text in entries)


def generate_trace() -> str:
    from memreplay.workloads import trace

    pages = _StructPages()
    lines = [f"A trace's header says `\"format\": \"{trace.TRACE_FORMAT}\"` and "
             f"`\"version\": {trace.TRACE_VERSION}`; this memreplay reads version {trace.TRACE_VERSION} only.", ""]
    line_types = [trace.TraceHeader, trace.TraceTask, trace.TraceEnd]
    for line_type in line_types:
        pages.collect_paths(line_type, "", "")
    for line_type in line_types:
        tag = line_type.__struct_config__.tag
        lines += [f"## The `{tag}` line {{#line-{tag}}}", ""]
        lines += pages.tree(line_type)
    return "\n".join(lines)


GENERATORS: dict[str, Callable[[], str]] = {
    "cli": generate_cli,
    "run-json": generate_run_json,
    "schema-history": generate_schema_history,
    "trace": generate_trace,
}
