"""The ``memreplay`` command line. User errors are one line on stderr and exit code 2."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from dask.utils import format_bytes

from corpora import CORPUS_KINDS, Corpus, ensure_corpus
from harness.config import ClusterConfig, default_config, parse_memory_limit
from harness.errors import USER_ERRORS, UserError
from harness.records import RunRecord, load_record, prepare_results_directory
from harness.report import model_table, profile_table, recommendation_text, summary_table
from harness.runner import case_id, run_case
from harness.table import format_table
from workloads import Workload, registered_workloads, resolve_workload

__all__ = ["main"]

EXIT_USER_ERROR = 2
CORPORA_ENV = "MEMREPLAY_CORPORA"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, not usage plus a line
        self.exit(EXIT_USER_ERROR, f"{self.prog}: error: {message}\n")


def _corpus_cache(results: Path, given: str | None) -> Path:
    return Path(given or os.environ.get(CORPORA_ENV) or results / "corpora")


def _corpus_for(workload: Workload, scale: float, cache: Path) -> Corpus:
    return ensure_corpus(workload.corpus_kind, scale, cache, on_generate=_say_generating)


def _say_generating(name: str) -> None:
    print(f"generating corpus file {name}", file=sys.stderr)


def _add_results_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--scale", type=float, default=1.0, help="corpus scale (1.0: a 25 MB text file, 16-64 MB volumes)"
    )
    parser.add_argument("--results", help="results directory (default $MEMREPLAY_RESULTS or ./results)")
    parser.add_argument("--corpora", help="corpus cache (default $MEMREPLAY_CORPORA or RESULTS/corpora)")


def _command_list(args: argparse.Namespace) -> int:
    rows = [(w.name, w.version, w.corpus_kind, w.description) for w in registered_workloads().values()]
    print(format_table(("workload", "version", "corpus", "description"), rows))
    return 0


def _command_corpora(args: argparse.Namespace) -> int:
    results = prepare_results_directory(args.results)
    cache = _corpus_cache(results, args.dir)
    kinds = CORPUS_KINDS if args.kind == "all" else (args.kind,)
    for kind in kinds:
        corpus = ensure_corpus(kind, args.scale, cache, on_generate=_say_generating)
        print(f"{kind}: {len(corpus.files)} files, {format_bytes(corpus.total_bytes)}, verified, in {corpus.root}")
    return 0


def _command_run(args: argparse.Namespace) -> int:
    workload = resolve_workload(args.workload)
    fallback = default_config()
    config = ClusterConfig(
        n_workers=fallback.n_workers if args.workers is None else args.workers,
        threads_per_worker=fallback.threads_per_worker if args.threads is None else args.threads,
        memory_limit=fallback.memory_limit if args.memory_limit is None else parse_memory_limit(args.memory_limit),
        processes=args.processes,
    )
    results = prepare_results_directory(args.results)
    corpus = _corpus_for(workload, args.scale, _corpus_cache(results, args.corpora))
    record = RunRecord.create(results, case_id(workload, config), "run", {"scale": args.scale})
    case = run_case(workload, config, corpus, record.case_directory(case_id(workload, config)),
                    timeout_s=args.timeout)
    record.add_case(case)
    print(record.path)
    return 0 if case["outcome"] == "ok" else 1


def _command_sweep(args: argparse.Namespace) -> int:
    from harness.matrix import load_matrix
    from harness.sweep import run_sweep

    if args.command == "bench" and not Path(args.matrix).exists():
        raise UserError(f"no {args.matrix} here: run from the memreplay checkout or give --matrix PATH")
    matrix = load_matrix(args.matrix, quick=args.quick)  # every matrix problem, before any cluster
    results = prepare_results_directory(args.results)
    try:
        record = run_sweep(matrix, results, _corpus_cache(results, args.corpora), resume=args.resume)
    except KeyboardInterrupt:
        print("\nmemreplay: interrupted; finished cases are kept; run again with --resume RUN to finish",
              file=sys.stderr)
        return 130
    print(summary_table(record.cases))
    print()
    print(model_table(record.summary.get("model", {})))
    if record.summary.get("profiles"):
        print()
        print(profile_table(record.summary["profiles"]))
    print(f"\nresults: {record.path}")
    # out of memory and timeouts are what a sweep is for; an error or a wrong answer is not
    return 1 if any(c["outcome"] == "error" for c in record.cases) else 0


def _command_recommend(args: argparse.Namespace) -> int:
    from harness.recommend import recommend

    if args.cores < 1:
        raise UserError(f"--cores must be at least 1, got {args.cores}")
    if not 0 <= args.margin < 1:
        raise UserError(f"--margin must be in [0, 1), got {args.margin}")
    advice = recommend(load_record(args.run), args.cores, parse_memory_limit(args.memory, "--memory"), args.margin)
    print(recommendation_text(advice))
    return 0


def _command_bench_probe(args: argparse.Namespace) -> int:
    from corpora.atomic import atomic_write_text
    from harness.probe_comparison import check_rows, compare_accuracy, compare_overhead, render

    results = prepare_results_directory(args.results)
    settings = {"truth_tasks": args.truth_tasks, "tiny_tasks": args.tiny_tasks, "repeats": args.repeats,
                "rows_tasks": args.rows_tasks}
    record = RunRecord.create(results, "probe-bench", "probe-bench", settings)
    directory = record.case_directory("csv")
    print("ground-truth graph: dask-memusage and memreplay, threads 1 and 2 ...", file=sys.stderr)
    accuracy = compare_accuracy(directory, count=args.truth_tasks)
    record.add_case({"id": "accuracy", "runs": accuracy})
    print(f"overhead: {args.tiny_tasks:,} tiny tasks x {args.repeats} repeats x 3 probes ...", file=sys.stderr)
    overhead = compare_overhead(directory, tasks=args.tiny_tasks, repeats=args.repeats)
    record.add_case({"id": "overhead", **overhead})
    rows = None
    if args.rows_tasks:
        print(f"rows: {args.rows_tasks:,} tiny tasks with memreplay's probe ...", file=sys.stderr)
        rows = check_rows(directory, tasks=args.rows_tasks)
        record.add_case({"id": "rows", **rows})
    table = render(accuracy, overhead, rows)
    atomic_write_text(record.directory / "comparison.txt", table + "\n")
    print(table)
    print(f"\nresults: {record.path}")
    return 0


def _command_profile(args: argparse.Namespace) -> int:
    from harness.filprofile import profile_task

    results = prepare_results_directory(args.results)
    cache = _corpus_cache(results, args.corpora)
    workloads = [resolve_workload(name) for name in args.workloads]
    record = RunRecord.create(results, "profile", "profile", {"scale": args.scale})
    for workload in workloads:
        corpus = _corpus_for(workload, args.scale, cache)
        largest = max(corpus.files, key=lambda f: f.size)
        print(f"profiling {workload.name} on {largest.name} under Fil ...", file=sys.stderr)
        directory = record.case_directory(f"profile-{workload.slug}")
        record.add_case(profile_task(workload.name, corpus.path(largest), directory, timeout=args.timeout))
    print(profile_table(record.cases))
    print(f"\nresults: {record.path}")
    return 0 if all(c["status"] == "ok" for c in record.cases) else 1


def _command_scheduler(args: argparse.Namespace) -> int:
    from corpora.atomic import atomic_write_text
    from harness.scheduler_config import load_profile
    from harness.scheduler_footprint import run_scenario
    from harness.scheduler_report import compare_footprints, render_footprints

    profiles = {"default": load_profile(args.default), "trimmed": load_profile(args.trimmed)}  # refused early
    transitions = args.transitions or (40_000 if args.quick else 200_000)
    idle = args.idle if args.idle is not None else (2.0 if args.quick else 10.0)
    results = prepare_results_directory(args.results)
    record = RunRecord.create(results, "scheduler", "scheduler", {"transitions": transitions, "idle_s": idle})
    runs = {}
    for label, profile in (("default", profiles["default"]), ("trimmed", profiles["trimmed"]),
                           ("default-again", profiles["default"])):
        print(f"scheduler under {label}: {transitions:,} transitions, then {idle:g} s idle ...", file=sys.stderr)
        runs[label] = run_scenario(profile, transitions, idle)
        record.add_case({"id": label, **runs[label]})
    comparison = compare_footprints(runs["default"], runs["trimmed"], runs["default-again"])
    record.summary = {"comparison": comparison}
    record.save()
    text = render_footprints(comparison)
    atomic_write_text(record.directory / "footprint.txt", text + "\n")
    print(text)
    print(f"\nresults: {record.path}")
    return 0


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="memreplay", description="Replay Dask pipelines and measure their memory.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    commands.add_parser("list", help="list the built-in workloads").set_defaults(handler=_command_list)

    corpora = commands.add_parser("corpora", help="generate and verify the corpora")
    corpora.add_argument("--scale", type=float, default=1.0)
    corpora.add_argument("--dir", help="corpus cache (default $MEMREPLAY_CORPORA or RESULTS/corpora)")
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
    _add_results_options(run)
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
        sweep.add_argument("--results", help="results directory (default $MEMREPLAY_RESULTS or ./results)")
        sweep.add_argument("--corpora", help="corpus cache (default $MEMREPLAY_CORPORA or RESULTS/corpora)")
        sweep.set_defaults(handler=_command_sweep)

    advise = commands.add_parser("recommend", help="the cheapest safe configuration for a machine, from a sweep")
    advise.add_argument("run", help="a sweep's run directory or run.json")
    advise.add_argument("--cores", type=int, required=True, help="cores of the target machine")
    advise.add_argument("--memory", required=True, help="RAM of the target machine, e.g. 16GiB")
    advise.add_argument("--margin", type=float, default=0.2, help="share of RAM kept in reserve (default 0.2)")
    advise.set_defaults(handler=_command_recommend)

    profile = commands.add_parser("profile", help="Fil peak-memory profile of each workload's largest task")
    profile.add_argument("workloads", nargs="+", metavar="WORKLOAD", help="one or more workloads, side by side")
    profile.add_argument("--timeout", type=float, default=600, help="seconds before a profile is stopped")
    _add_results_options(profile)
    profile.set_defaults(handler=_command_profile)

    footprint = commands.add_parser("scheduler", help="scheduler memory: default versus trimmed configuration")
    footprint.add_argument("--quick", action="store_true", help="40,000 transitions and 2 s idle")
    footprint.add_argument("--transitions", type=int, help="transitions to drive (default 200,000)")
    footprint.add_argument("--idle", type=float, help="idle seconds before measuring (default 10)")
    footprint.add_argument("--default", default="configs/scheduler/default.toml", help="the default profile")
    footprint.add_argument("--trimmed", default="configs/scheduler/trimmed.toml", help="the trimmed profile")
    footprint.add_argument("--results", help="results directory (default $MEMREPLAY_RESULTS or ./results)")
    footprint.set_defaults(handler=_command_scheduler)

    probe = commands.add_parser("bench-probe", help="per-task probe accuracy and overhead against dask-memusage")
    probe.add_argument("--results", help="results directory (default $MEMREPLAY_RESULTS or ./results)")
    probe.add_argument("--truth-tasks", type=int, default=40, help="tasks in the ground-truth graph")
    probe.add_argument("--tiny-tasks", type=int, default=10_000, help="tasks in the overhead graph")
    probe.add_argument("--repeats", type=int, default=5, help="interleaved repeats of the overhead graph")
    probe.add_argument("--rows-tasks", type=int, default=100_000, help="tasks in the every-row check (0: skip)")
    probe.set_defaults(handler=_command_bench_probe)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    if os.getcwd() not in sys.path:  # `memreplay run my_pipeline:build` finds ./my_pipeline.py, as python -m would
        sys.path.insert(0, os.getcwd())
    try:
        return args.handler(args)
    except USER_ERRORS as error:
        print(f"memreplay: error: {error}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("memreplay: interrupted; records already written are kept", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `memreplay list | head`: the reader left, nothing is wrong
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
