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
from harness.errors import USER_ERRORS
from harness.records import RunRecord, prepare_results_directory
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
    case = run_case(workload, config, corpus, record.case_directory(case_id(workload, config)))
    record.add_case(case)
    print(record.path)
    return 0 if case["outcome"] == "ok" else 1


def _command_bench(args: argparse.Namespace) -> int:
    config = default_config()
    results = prepare_results_directory(args.results)
    cache = _corpus_cache(results, args.corpora)
    workloads = list(registered_workloads().values())
    corpora = {w.corpus_kind: _corpus_for(w, args.scale, cache) for w in workloads}
    record = RunRecord.create(results, "bench", "bench", {"scale": args.scale, "config": config.describe()})
    for workload in workloads:
        print(f"running {workload.name} on {config.label} ...", file=sys.stderr)
        identifier = case_id(workload, config)
        record.add_case(run_case(workload, config, corpora[workload.corpus_kind], record.case_directory(identifier)))
    print(summary_table(record.cases))
    print(f"\nresults: {record.path}")
    return 0 if all(c["outcome"] == "ok" for c in record.cases) else 1


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


def profile_table(profiles: Sequence[dict]) -> str:
    """Fil profiles side by side: the peak, then each workload's top lines."""
    def peak(p: dict) -> str:
        return format_bytes(p["peak_tracked_bytes"]) if p["status"] == "ok" else f"{p['status']}: {p['reason']}"

    def line(p: dict, rank: int) -> str:
        lines = p.get("top_lines") or []
        if rank >= len(lines):
            return ""
        top = lines[rank]
        where = f"{Path(top['file']).name}:{top['line']} {top['function']}"
        return f"{where} {format_bytes(top['bytes'])} ({top['percent']}%)"

    rows = [("peak (Fil: tracked allocations)", *(peak(p) for p in profiles))]
    rows += [(f"line #{rank + 1}", *(line(p, rank) for p in profiles)) for rank in range(5)]
    return format_table(("", *(p["workload"] for p in profiles)), rows)


def summary_table(cases: Sequence[dict]) -> str:
    rows = [
        (c["workload"]["name"], c["config"]["n_workers"], c["config"]["threads_per_worker"],
         format_bytes(c["config"]["memory_limit"]), c["outcome"],
         f"{c['wall_time_s']:.2f}" if c["wall_time_s"] is not None else "-", c["answer_check"],
         *_largest_task(c))
        for c in cases
    ]
    headers = ("workload", "workers", "threads", "memory limit", "outcome", "wall s", "answer",
               "largest task", "its peak increase")
    return format_table(headers, rows)


def _largest_task(case: dict) -> tuple[str, str]:
    """The prefix and peak increase of the task that needed the most memory in a case."""
    by_prefix = (case.get("task_memory") or {}).get("by_prefix", {})
    measured = [(p, s["peak_increase_max_bytes"]) for p, s in by_prefix.items() if s["peak_increase_max_bytes"]]
    if not measured:
        return "-", "-"
    prefix, peak = max(measured, key=lambda item: item[1])
    return prefix, format_bytes(peak)


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
    _add_results_options(run)
    run.set_defaults(handler=_command_run)

    bench = commands.add_parser("bench", help="the main job: every workload on the default configuration")
    _add_results_options(bench)
    bench.set_defaults(handler=_command_bench)

    profile = commands.add_parser("profile", help="Fil peak-memory profile of each workload's largest task")
    profile.add_argument("workloads", nargs="+", metavar="WORKLOAD", help="one or more workloads, side by side")
    profile.add_argument("--timeout", type=float, default=600, help="seconds before a profile is stopped")
    _add_results_options(profile)
    profile.set_defaults(handler=_command_profile)

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
    try:
        return args.handler(args)
    except USER_ERRORS as error:
        print(f"memreplay: error: {error}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("memreplay: interrupted; records already written are kept", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
