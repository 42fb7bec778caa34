"""The ``memreplay`` command line: each command parses its options, calls one function of its
room (plan → execute, or a study), and prints a report. User errors are one line on stderr and
exit code 2."""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from dask.utils import format_bytes

from corpora import CORPUS_KINDS, CorpusError, ensure_corpus
from corpora.staged import CORPORA_ENV
from harness.compat import DistributedChanged
from harness.errors import UserError
from harness.records.store import prepare_results_directory
from workloads import WorkloadError

if TYPE_CHECKING:
    from harness.analysis.regression import GateRule

__all__ = ["main"]

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130
RESULTS_HELP = "results directory (default $MEMREPLAY_RESULTS or ./results)"
CORPORA_HELP = "corpus cache (default $MEMREPLAY_CORPORA or RESULTS/corpora)"
DEFAULT_FLOOR = "2MiB"  # the gate's floor: well above the A/A noise measured (README, *Regression gate*)
USER_ERRORS = (UserError, CorpusError, WorkloadError)  # one line each, exit code 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, not usage plus a line
        self.exit(EXIT_USER_ERROR, f"{self.prog}: error: {message}\n")


def _corpus_cache(results: Path, given: str | None) -> Path:
    return Path(given or os.environ.get(CORPORA_ENV) or results / "corpora")


def _report_line(run: Path, record: object) -> str:
    """Write the run's ``report.html`` and say where; a report that cannot be written is one
    line, and the run (already saved) is kept."""
    try:
        from harness.plan.distributed_config import kill_fraction
        from harness.report.run_report import write_run_report

        return f"report: {write_run_report(run, record, kill_fraction=kill_fraction())}"  # type: ignore[arg-type]
    except Exception as error:  # the run is saved whatever happens to its page; `memreplay report RUN` retries
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        return f"report: not written ({reason}); the run is kept: memreplay report {run}"


def _running(args: argparse.Namespace) -> Any:
    from harness.plan.cluster_source import running_source

    return running_source(args.scheduler, args.tls_ca_file, args.tls_cert, args.tls_key)


def _add_cluster_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="use the running cluster at this scheduler address, as it is (e.g. tcp://10.0.0.5:8786)")
    parser.add_argument("--tls-ca-file", metavar="FILE", help="CA certificate of a TLS scheduler (as dask's CLI)")
    parser.add_argument("--tls-cert", metavar="FILE", help="client certificate for a TLS scheduler")
    parser.add_argument("--tls-key", metavar="FILE", help="client private key for a TLS scheduler")


def _command_record(args: argparse.Namespace) -> int:
    from harness.record.command import record_command

    code, said, written = record_command(args.command_line, Path(args.output))
    print(said, file=sys.stdout if written else sys.stderr)
    return code


def _command_list(args: argparse.Namespace) -> int:
    from harness.report.terminal import workloads_table
    from workloads import registered_workloads

    print(workloads_table(registered_workloads().values()))
    return 0


def _command_corpora(args: argparse.Namespace) -> int:
    from harness.execute.sweep import say_generating

    results = prepare_results_directory(args.results)
    cache = _corpus_cache(results, args.dir)
    for kind in CORPUS_KINDS if args.kind == "all" else (args.kind,):
        corpus = ensure_corpus(kind, args.scale, cache, on_generate=say_generating)
        print(f"{kind}: {len(corpus.files)} files, {format_bytes(corpus.total_bytes)}, verified, in {corpus.root}")
    return 0


def _command_run(args: argparse.Namespace) -> int:
    from harness.execute.cluster import running_config
    from harness.execute.sweep import run_sweep
    from harness.plan.cluster_config import config_from_options
    from harness.plan.cluster_source import OWN
    from harness.plan.matrix import single_case
    from harness.report.terminal import sweep_text
    from workloads import resolve_workload

    source = _running(args)
    if source is None:
        config = config_from_options(args.workers, args.threads, args.memory_limit, args.processes)
    else:
        config = running_config(source, refused={"--workers": args.workers, "--threads": args.threads,
                                                 "--memory-limit": args.memory_limit,
                                                 "--no-processes": not args.processes or None})
    matrix = single_case(resolve_workload(args.workload), config, args.scale, args.timeout, args.scheduler_profile,
                         source or OWN)
    results = prepare_results_directory(args.results)
    run = run_sweep(matrix, results, _corpus_cache(results, args.corpora), label=matrix.cases[0].id)
    print(sweep_text(run.record, run.path))
    print(_report_line(run.directory, run.record))
    return 0 if run.record.cases[0].outcome == "ok" else 1


def _command_sweep(args: argparse.Namespace) -> int:
    from harness.execute.sweep import run_sweep
    from harness.plan.matrix import load_matrix
    from harness.report.terminal import sweep_text

    if args.command == "bench" and not Path(args.matrix).exists():
        raise UserError(f"no {args.matrix} here: run from the memreplay checkout or give --matrix PATH")
    matrix = load_matrix(args.matrix, quick=args.quick, running=_running(args))  # every problem, before any case
    results = prepare_results_directory(args.results)
    try:
        run = run_sweep(matrix, results, _corpus_cache(results, args.corpora), resume=args.resume)
    except KeyboardInterrupt:
        print("\nmemreplay: interrupted; finished cases are kept; run again with --resume RUN to finish",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    print(sweep_text(run.record, run.path))
    print(_report_line(run.directory, run.record))
    # out of memory and timeouts are what a sweep is for; an error or a wrong answer is not
    return 1 if any(case.outcome == "error" for case in run.record.cases) else 0


def _command_recommend(args: argparse.Namespace) -> int:
    import msgspec

    from harness.analysis.recommend import recommend
    from harness.plan.distributed_config import kill_fraction
    from harness.plan.sizes import parse_size
    from harness.records.schema import SweepRecord
    from harness.records.store import load_record
    from harness.report.terminal import recommendation_text

    machine = _machine(args.cores, args.memory)  # every option checked before any file is read
    if not 0 <= args.margin < 1:  # NaN fails this too
        raise UserError(f"--margin must be in [0, 1), got {args.margin}")
    assert machine is not None  # both options are required
    input_bytes = None if args.input_size is None else parse_size(args.input_size, "--input-size")
    advice = recommend(load_record(args.run, SweepRecord), *machine, args.margin, kill_fraction(), input_bytes)
    print(msgspec.json.format(msgspec.json.encode(advice)).decode() if args.json else recommendation_text(advice))
    return 0


def _command_profile(args: argparse.Namespace) -> int:
    from harness.report.terminal import profiles_text
    from harness.studies.fil import profile_workloads

    results = prepare_results_directory(args.results)
    run = profile_workloads(args.workloads, args.scale, args.timeout, results, _corpus_cache(results, args.corpora))
    print(profiles_text(run.record, run.path))
    print(_report_line(run.directory, run.record))
    return 0 if all(p.outcome == "ok" for p in run.record.profiles) else 1


def _command_size(args: argparse.Namespace) -> int:
    from harness.report.terminal import size_text
    from harness.studies.size_ladder import size_workloads

    results = prepare_results_directory(args.results)
    run = size_workloads(args.workloads, args.scale, args.repeats, args.timeout, results,
                         _corpus_cache(results, args.corpora))
    print(size_text(run.record, run.path))
    print(_report_line(run.directory, run.record))
    return 0 if all(ladder.outcome == "ok" for ladder in run.record.ladders) else 1


def _command_scheduler(args: argparse.Namespace) -> int:
    from harness.report.terminal import scheduler_text
    from harness.studies.scheduler import run_study

    results = prepare_results_directory(args.results)
    run = run_study(args.default, args.trimmed, results, quick=args.quick, transitions=args.transitions,
                    idle_s=args.idle)
    print(scheduler_text(run.record, run.path))
    print(_report_line(run.directory, run.record))
    return 0


def _command_bench_probe(args: argparse.Namespace) -> int:
    from harness.report.terminal import probe_accuracy_text
    from harness.studies.probe_accuracy import run_benchmark

    results = prepare_results_directory(args.results)
    run = run_benchmark(results, args.truth_tasks, args.tiny_tasks, args.repeats, args.rows_tasks)
    print(f"{probe_accuracy_text(run.record)}\n\nresults: {run.path}")
    print(_report_line(run.directory, run.record))
    return 0


def _machine(cores: int | None, memory: str | None) -> tuple[int, int] | None:
    """``--cores`` and ``--memory`` together, or neither."""
    from harness.plan.sizes import parse_size

    if (cores is None) != (memory is None):
        raise UserError("give --cores and --memory together (or neither: the machine the run was measured on)")
    if cores is None or memory is None:
        return None
    if cores < 1:
        raise UserError(f"--cores must be at least 1, got {cores}")
    return cores, parse_size(memory, "--memory")


def _command_report(args: argparse.Namespace) -> int:
    from harness.plan.distributed_config import kill_fraction
    from harness.records.store import load_record
    from harness.report.run_report import write_run_report

    machine = _machine(args.cores, args.memory)
    record = load_record(args.run)
    try:
        written = write_run_report(args.run, record, kill_fraction=kill_fraction(), machine=machine)
    except OSError as error:
        raise UserError(f"{args.run}: report not written: {error.strerror or error}"
                        + (f" ({error.filename})" if error.filename else "")) from None
    print(f"report: {written}")
    return 0


def _gate_rule(threshold: float, floor: str) -> GateRule:
    from harness.analysis.regression import GateRule
    from harness.plan.sizes import parse_size

    if not (math.isfinite(threshold) and threshold > 0):
        raise UserError(f"--threshold must be a positive percentage, got {threshold}")
    return GateRule(threshold=threshold / 100, floor=parse_size(floor, "--floor"))


def _command_compare(args: argparse.Namespace) -> int:
    from harness.analysis.compare import compare_runs
    from harness.records.atomic import atomic_write_text
    from harness.records.schema import SweepRecord
    from harness.records.store import load_record, run_directory
    from harness.report.comparison_views import comparison_markdown, comparison_text, write_comparison_page

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
    print(comparison_text(comparison, names))
    if args.markdown:
        try:
            atomic_write_text(Path(args.markdown), comparison_markdown(comparison, names))
        except OSError as error:
            raise UserError(f"--markdown {args.markdown}: cannot write: {error.strerror or error}") from None
    try:
        written = write_comparison_page(page, comparison, names)
    except OSError as error:
        raise UserError(f"{page}: cannot write the comparison page: {error.strerror or error}") from None
    print(f"report: {written}")
    return 1 if comparison.regressed else 0


def _command_trend(args: argparse.Namespace) -> int:
    from harness.trend.publish import publish_trend

    published = publish_trend(Path.cwd(), args.machine, quick=args.quick)
    print(f"asv results of {published.commit[:8]}: {published.results}\n"
          f"trend site (opens offline): {published.site}")
    return 0


def _command_regression(args: argparse.Namespace) -> int:
    from harness.analysis.regression import regressed
    from harness.report.terminal import gate_text
    from harness.trend.gate import GATED, run_gate

    rule = _gate_rule(args.threshold, args.floor)
    outcome = run_gate(Path.cwd(), args.base, args.head, rule, args.machine)
    print(gate_text(outcome.base, outcome.head, outcome.rule, outcome.comparisons, GATED))
    return 1 if regressed(outcome.comparisons) else 0


def _add_corpus_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scale", type=float, default=1.0,
                        help="corpus scale (1.0: a 25 MB text file, 16-64 MB volumes)")
    parser.add_argument("--results", help=RESULTS_HELP)
    parser.add_argument("--corpora", help=CORPORA_HELP)


def _build_parser() -> argparse.ArgumentParser:
    from harness.analysis.recommend import DEFAULT_MARGIN

    parser = _Parser(prog="memreplay", description="Replay Dask pipelines and measure their memory.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    commands.add_parser("list", help="list the built-in workloads").set_defaults(handler=_command_list)

    corpora = commands.add_parser("corpora", help="generate and verify the corpora")
    corpora.add_argument("--scale", type=float, default=1.0)
    corpora.add_argument("--dir", help=CORPORA_HELP)
    corpora.add_argument("--kind", choices=(*CORPUS_KINDS, "all"), default="all")
    corpora.add_argument("--results", help=argparse.SUPPRESS)
    corpora.set_defaults(handler=_command_corpora)

    run = commands.add_parser("run", help="run one workload on one cluster configuration")
    run.add_argument("workload", help="a name from `memreplay list`, or package.module:function")
    run.add_argument("--workers", type=int, help="number of workers (default: one per core)")
    run.add_argument("--threads", type=int, help="threads per worker (default 1)")
    run.add_argument("--memory-limit", help="memory limit per worker, e.g. 4GiB (default: 3/4 of RAM shared)")
    run.add_argument("--processes", action=argparse.BooleanOptionalAction, default=True,
                     help="workers in processes (default) or threads of this process")
    run.add_argument("--timeout", type=float, help="seconds before the case is stopped as a timeout")
    run.add_argument("--scheduler-profile", default="default", metavar="NAME",
                     help="the scheduler's preset: configs/scheduler/NAME.toml or a .toml path (default: as installed)")
    _add_corpus_options(run)
    _add_cluster_options(run)
    run.set_defaults(handler=_command_run)

    for name, help_text in (("sweep", "run every case of a configuration matrix (TOML)"),
                            ("bench", "the main job: the default sweep, configs/default.toml")):
        sweep = commands.add_parser(name, help=help_text)
        if name == "sweep":
            sweep.add_argument("matrix", help="a matrix TOML file, e.g. configs/default.toml")
        else:
            sweep.add_argument("--matrix", default="configs/default.toml", help="matrix (default configs/default.toml)")
        sweep.add_argument("--quick", action="store_true", help="the matrix's [quick] variant: smaller, fewer cases")
        sweep.add_argument("--resume", metavar="RUN", help="finish the cases missing from an interrupted run")
        sweep.add_argument("--results", help=RESULTS_HELP)
        sweep.add_argument("--corpora", help=CORPORA_HELP)
        _add_cluster_options(sweep)
        sweep.set_defaults(handler=_command_sweep)

    recorder = commands.add_parser("record", help="record a pipeline of your own as a trace: memreplay record -- "
                                                  "python my_pipeline.py")
    recorder.add_argument("--output", default="trace.json", help="the trace to write (default trace.json)")
    recorder.add_argument("command_line", nargs=argparse.REMAINDER, metavar="-- COMMAND",
                          help="the pipeline to run, after --")
    recorder.set_defaults(handler=_command_record)

    advise = commands.add_parser("recommend", help="the cheapest safe configuration for a machine, from a sweep")
    advise.add_argument("run", help="a sweep's run directory or run.json")
    advise.add_argument("--cores", type=int, required=True, help="cores of the target machine")
    advise.add_argument("--memory", required=True, help="RAM of the target machine, e.g. 16GiB")
    advise.add_argument("--margin", type=float, default=DEFAULT_MARGIN,
                        help=f"share of RAM kept in reserve (default {DEFAULT_MARGIN})")
    advise.add_argument("--input-size", metavar="SIZE",
                        help="size for tasks of this input (e.g. 2GiB), larger than any measured: the peak increase "
                             "comes from the run's size model")
    advise.add_argument("--json", action="store_true", help="the same advice as JSON")
    advise.set_defaults(handler=_command_recommend)

    profile = commands.add_parser("profile", help="Fil and memory_profiler profiles of each workload's largest task")
    profile.add_argument("workloads", nargs="+", metavar="WORKLOAD", help="one or more workloads, side by side")
    profile.add_argument("--timeout", type=float, default=600, help="seconds before a profile is stopped")
    _add_corpus_options(profile)
    profile.set_defaults(handler=_command_profile)

    from harness.studies.size_ladder import LADDER_REPEATS
    size = commands.add_parser("size", help="peak increase against input size: each task function alone, in a fresh "
                                            "process, on 1/16 .. 1 of the largest input")
    size.add_argument("workloads", nargs="+", metavar="WORKLOAD", help="one or more workloads with a task function")
    size.add_argument("--repeats", type=int, default=LADDER_REPEATS,
                      help=f"measurements of each input size (default {LADDER_REPEATS})")
    size.add_argument("--timeout", type=float, default=600, help="seconds before one measurement is stopped")
    _add_corpus_options(size)
    size.set_defaults(handler=_command_size)

    footprint = commands.add_parser("scheduler", help="scheduler memory: default versus trimmed preset")
    footprint.add_argument("--quick", action="store_true", help="40,000 transitions and 2 s idle")
    footprint.add_argument("--transitions", type=int, help="transitions to drive (default 200,000)")
    footprint.add_argument("--idle", type=float, help="idle seconds before measuring (default 10)")
    footprint.add_argument("--default", default="configs/scheduler/default.toml", help="the default preset")
    footprint.add_argument("--trimmed", default="configs/scheduler/trimmed.toml", help="the trimmed preset")
    footprint.add_argument("--results", help=RESULTS_HELP)
    footprint.set_defaults(handler=_command_scheduler)

    probe = commands.add_parser("bench-probe", help="per-task probe accuracy and overhead against dask-memusage")
    probe.add_argument("--results", help=RESULTS_HELP)
    probe.add_argument("--truth-tasks", type=int, default=40, help="tasks in the ground-truth graph")
    probe.add_argument("--tiny-tasks", type=int, default=10_000, help="tasks in the overhead graph")
    probe.add_argument("--repeats", type=int, default=5, help="interleaved repeats of the overhead graph")
    probe.add_argument("--rows-tasks", type=int, default=100_000, help="tasks in the every-row check (0: skip)")
    probe.set_defaults(handler=_command_bench_probe)

    report = commands.add_parser("report", help="write RUN/report.html: one self-contained page of a run")
    report.add_argument("run", help="a run directory or its run.json")
    report.add_argument("--cores", type=int, help="advise for a machine of this many cores (with --memory)")
    report.add_argument("--memory", help="and this much RAM, e.g. 64GiB (default: the machine the run was measured on)")
    report.set_defaults(handler=_command_report)

    compare = commands.add_parser("compare", help="two sweeps side by side; exit 1 when a memory figure got worse")
    compare.add_argument("base", metavar="BASE", help="the sweep to compare against (run directory or run.json)")
    compare.add_argument("head", metavar="HEAD", help="the sweep under test")
    compare.add_argument("--threshold", type=float, default=10.0, help="percent worse that fails (default 10)")
    compare.add_argument("--floor", default=DEFAULT_FLOOR,
                         help=f"and bytes worse that fail, at least (default {DEFAULT_FLOOR}; raised to the noise "
                              "the records show)")
    compare.add_argument("--noise", metavar="AA_RUN", help="an A/A run of BASE: its distance from BASE is noise")
    compare.add_argument("--markdown", metavar="FILE", help="also write a Markdown summary (e.g. $GITHUB_STEP_SUMMARY)")
    compare.add_argument("--output", metavar="FILE", help="the HTML page (default HEAD/compare-to-BASE.html)")
    compare.set_defaults(handler=_command_compare)

    from harness.trend.asv_project import DEFAULT_MACHINE  # no asv import: asv is an extra
    machine_help = f"asv machine name, one per class of machine (default $MEMREPLAY_ASV_MACHINE or {DEFAULT_MACHINE})"
    trend = commands.add_parser("trend", help="the asv benchmarks at HEAD in this environment; publish an offline site")
    trend.add_argument("--quick", action="store_true", help="asv's --quick (each benchmark once)")
    trend.add_argument("--machine", default=DEFAULT_MACHINE, help=machine_help)
    trend.set_defaults(handler=_command_trend)

    gate = commands.add_parser("regression", help="the memory regression gate: BASE against HEAD, each in a "
                                                  "clean virtualenv (exit 1: regressed)")
    gate.add_argument("base", metavar="BASE", help="the commit to compare against (branch, tag or hash)")
    gate.add_argument("head", metavar="HEAD", nargs="?", default="HEAD", help="the commit under test (default HEAD)")
    gate.add_argument("--threshold", type=float, default=10.0, help="percent worse that fails (default 10)")
    gate.add_argument("--floor", default=DEFAULT_FLOOR, help=f"and bytes worse that fail (default {DEFAULT_FLOOR})")
    gate.add_argument("--machine", default=DEFAULT_MACHINE, help=machine_help)
    gate.set_defaults(handler=_command_regression)
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


def _refuse_shadowing_directories() -> None:
    """The processes memreplay starts (each case's scheduler, the size ladders' and profiles'
    children) import from the working directory first, as ``python -m`` does, to find a user's
    ``my_pipeline.py``; a ``corpora/`` folder of data there would hide memreplay's own package."""
    for name in ("corpora", "harness", "workloads"):
        here = Path.cwd() / name
        # a checkout of memreplay (its own package sources) is fine: the same code
        if (here.exists() and not (here / "__init__.py").is_file()) or here.with_suffix(".py").exists():
            raise UserError(f"./{name} in the working directory would hide memreplay's own {name} package in the "
                            f"processes it starts; run from another directory, or rename ./{name}")


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = _build_parser().parse_args(argv)
    except SystemExit as parsed:  # --help, or a bad option (already said in one line)
        return parsed.code if isinstance(parsed.code, int) else EXIT_USER_ERROR
    try:
        if args.command not in ("list", "report", "compare", "recommend"):  # these start no process
            _refuse_shadowing_directories()
        with _working_directory_importable():
            return args.handler(args)
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
