"""The commands that make no record of their own: the workloads and corpora, recording a trace,
a run's report, two sweeps compared, and the asv trend and gate. Each keeps its options beside
the one function it calls; the commands that make a kind of result are in :mod:`memreplay.kinds`."""

from __future__ import annotations

import argparse
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING

from dask.utils import format_bytes

from memreplay.corpora import CORPUS_KINDS, ensure_corpus
from memreplay.errors import UserError
from memreplay.kinds import ReportContext, kind_commands, write_report
from memreplay.kinds.base import CORPORA_HELP, Command, Said, corpus_cache
from memreplay.kinds.plan import COMMAND as PLAN
from memreplay.kinds.recommendation import COMMAND as RECOMMEND
from memreplay.kinds.recommendation import machine_option
from memreplay.records.store import prepare_results_directory

if TYPE_CHECKING:
    from memreplay.analysis.regression import GateRule

__all__ = ["COMMANDS", "DEFAULT_FLOOR"]

DEFAULT_FLOOR = "2MiB"  # the gate's floor: well above the A/A noise measured (docs: figures)
DATA = "Workloads, data and reports"
REGRESSIONS = "Did a commit make it worse?"


def _configure_list(parser: argparse.ArgumentParser) -> None:
    pass


def _call_list(args: argparse.Namespace) -> Said:
    from memreplay.plan.packaged import example_catalog, packaged_config, packaged_configs, shipped_matrices
    from memreplay.report.table import format_table
    from memreplay.workloads import registered_workloads

    workloads = format_table(("workload", "version", "corpus", "description"),
                             [(w.name, w.version, w.corpus_kind, w.description)
                              for w in registered_workloads().values()], width=None)
    matrices = format_table(("matrix", "file (installed with memreplay: copy one to start your own)"),
                            [(name, str(packaged_config(f"{name}.toml"))) for name in shipped_matrices()], width=None)
    presets = {folder: ", ".join(sorted(path.stem for path in (packaged_configs() / folder).glob("*.toml")))
               for folder in ("scheduler", "memory")}
    return Said(f"{workloads}\n\n{matrices}\n\nscheduler presets: {presets['scheduler']} "
                f"(in {packaged_configs() / 'scheduler'})\n"
                f"memory presets: {presets['memory']} (in {packaged_configs() / 'memory'})\n"
                f"machine catalogs: example, for memreplay plan --machines example ({example_catalog()}: example "
                "prices, to replace with yours)")


def _configure_corpora(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--dir", help=CORPORA_HELP)
    parser.add_argument("--kind", choices=(*CORPUS_KINDS, "all"), default="all")
    parser.add_argument("--results", help=argparse.SUPPRESS)


def _call_corpora(args: argparse.Namespace) -> Said:
    from memreplay.execute.sweep import say_generating

    cache = corpus_cache(prepare_results_directory(args.results), args.dir)
    lines = []
    for kind in CORPUS_KINDS if args.kind == "all" else (args.kind,):
        corpus = ensure_corpus(kind, args.scale, cache, on_generate=say_generating)
        lines.append(f"{kind}: {len(corpus.files)} files, {format_bytes(corpus.total_bytes)}, verified, "
                     f"in {corpus.root}")
    return Said("\n".join(lines))


def _configure_record(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--output", default="trace.json", help="the trace to write (default trace.json)")
    parser.add_argument("command_line", nargs=argparse.REMAINDER, metavar="-- COMMAND",
                        help="the pipeline to run, after --")


def _call_record(args: argparse.Namespace) -> Said:
    from memreplay.trace.command import record_command

    code, said, written = record_command(args.command_line, Path(args.output))
    return Said(said, code, to_stderr=not written)


def _configure_report(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", help="a run directory or its run.json")
    parser.add_argument("--cores", type=int, help="advise for a machine of this many cores (with --memory)")
    parser.add_argument("--memory", help="and this much RAM, e.g. 64GiB (default: the machine the run was measured on)")


def _call_report(args: argparse.Namespace) -> Said:
    from memreplay.plan.distributed_config import kill_fraction
    from memreplay.records.store import load_record

    machine = machine_option(args.cores, args.memory)
    record = load_record(args.run)
    try:
        written = write_report(args.run, record, ReportContext(kill_fraction=kill_fraction(), machine=machine))
    except OSError as error:
        raise UserError(f"{args.run}: report not written: {error.strerror or error}"
                        + (f" ({error.filename})" if error.filename else "")) from None
    return Said(f"report: {written}")


def _gate_rule(threshold: float, floor: str) -> GateRule:
    from memreplay.analysis.regression import GateRule
    from memreplay.plan.sizes import parse_size

    if not (math.isfinite(threshold) and threshold > 0):
        raise UserError(f"--threshold must be a positive percentage, got {threshold}")
    return GateRule(threshold=threshold / 100, floor=parse_size(floor, "--floor"))


def _configure_compare(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("base", metavar="BASE", help="the sweep to compare against (run directory or run.json)")
    parser.add_argument("head", metavar="HEAD", help="the sweep under test")
    parser.add_argument("--threshold", type=float, default=10.0, help="percent worse that fails (default 10)")
    parser.add_argument("--floor", default=DEFAULT_FLOOR,
                        help=f"and bytes worse that fail, at least (default {DEFAULT_FLOOR}; raised to the noise "
                             "the records show)")
    parser.add_argument("--noise", metavar="AA_RUN", help="an A/A run of BASE: its distance from BASE is noise")
    parser.add_argument("--markdown", metavar="FILE", help="also write a Markdown summary (e.g. $GITHUB_STEP_SUMMARY)")
    parser.add_argument("--output", metavar="FILE", help="the HTML page (default HEAD/compare-to-BASE.html)")


def _call_compare(args: argparse.Namespace) -> Said:
    from memreplay.analysis.compare import compare_runs
    from memreplay.records.atomic import atomic_write_text
    from memreplay.records.schema import SweepRecord
    from memreplay.records.store import load_record, run_directory
    from memreplay.report.comparison_views import comparison_markdown, comparison_text, write_comparison_page

    rule = _gate_rule(args.threshold, args.floor)
    base_dir, head_dir = run_directory(args.base).resolve(), run_directory(args.head).resolve()
    names = (base_dir.name, head_dir.name)
    page = Path(args.output) if args.output else head_dir / f"compare-to-{names[0]}.html"
    for option, path in (("--markdown", args.markdown), ("--output", page)):
        if path is not None and not os.access(Path(path).parent, os.W_OK):  # before any work: a verdict is never lost
            raise UserError(f"{option} {path}: cannot write there (its directory is missing or not writable)")
    base, head = load_record(args.base, SweepRecord), load_record(args.head, SweepRecord)
    aa = load_record(args.noise, SweepRecord) if args.noise else None
    comparison = compare_runs(base, head, rule, aa, names)
    text = comparison_text(comparison, names)
    if args.markdown:
        try:
            atomic_write_text(Path(args.markdown), comparison_markdown(comparison, names))
        except OSError as error:
            raise UserError(f"--markdown {args.markdown}: cannot write: {error.strerror or error}") from None
    try:
        written = write_comparison_page(page, comparison, names)
    except OSError as error:
        raise UserError(f"{page}: cannot write the comparison page: {error.strerror or error}") from None
    return Said(f"{text}\nreport: {written}", 1 if comparison.regressed else 0)


def _machine_option(parser: argparse.ArgumentParser) -> None:
    from memreplay.trend.asv_project import DEFAULT_MACHINE  # no asv import: asv is an extra

    parser.add_argument("--machine", default=DEFAULT_MACHINE,
                        help="asv machine name, one per class of machine (default $MEMREPLAY_ASV_MACHINE or "
                             f"{DEFAULT_MACHINE})")


def _configure_trend(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true", help="asv's --quick (each benchmark once)")
    _machine_option(parser)


def _call_trend(args: argparse.Namespace) -> Said:
    from memreplay.trend.publish import publish_trend

    published = publish_trend(Path.cwd(), args.machine, quick=args.quick)
    return Said(f"asv results of {published.commit[:8]}: {published.results}\n"
                f"trend site (opens offline): {published.site}")


def _configure_regression(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("base", metavar="BASE", help="the commit to compare against (branch, tag or hash)")
    parser.add_argument("head", metavar="HEAD", nargs="?", default="HEAD", help="the commit under test (default HEAD)")
    parser.add_argument("--threshold", type=float, default=10.0, help="percent worse that fails (default 10)")
    parser.add_argument("--floor", default=DEFAULT_FLOOR, help=f"and bytes worse that fail (default {DEFAULT_FLOOR})")
    _machine_option(parser)


def _call_regression(args: argparse.Namespace) -> Said:
    from memreplay.analysis.regression import regressed
    from memreplay.report.gate_text import gate_text
    from memreplay.trend.gate import GATED, run_gate

    rule = _gate_rule(args.threshold, args.floor)
    outcome = run_gate(Path.cwd(), args.base, args.head, rule, args.machine)
    return Said(gate_text(outcome.base, outcome.head, outcome.rule, outcome.comparisons, GATED),
                1 if regressed(outcome.comparisons) else 0)


COMMANDS: list[Command] = [
    *kind_commands(),
    RECOMMEND,
    PLAN,
    Command("record", "A pipeline of your own",
            "record a pipeline of your own as a trace: memreplay record -- python my_pipeline.py",
            _configure_record, _call_record),
    Command("compare", REGRESSIONS, "two sweeps side by side; exit 1 when a memory figure got worse",
            _configure_compare, _call_compare, starts_processes=False),
    Command("trend", REGRESSIONS, "the asv benchmarks at HEAD in this environment; publish an offline site",
            _configure_trend, _call_trend),
    Command("regression", REGRESSIONS, "the memory regression gate: BASE against HEAD, each in a clean virtualenv "
            "(exit 1: regressed)", _configure_regression, _call_regression),
    Command("list", DATA, "list the built-in workloads and the shipped matrices and presets",
            _configure_list, _call_list, starts_processes=False),
    Command("corpora", DATA, "generate and verify the corpora", _configure_corpora, _call_corpora),
    Command("report", DATA, "write RUN/report.html: one self-contained page of a run", _configure_report,
            _call_report, starts_processes=False),
]
