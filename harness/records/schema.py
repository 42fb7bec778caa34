"""What a run record holds, kind by kind, as typed structs: the one definition of ``run.json``.

Vocabulary (docs/design.md says the same):
- a **run** is one invocation of memreplay; it writes one run directory holding one run
  record, ``run.json``, of one **kind**: ``sweep`` (``memreplay run``, ``sweep``, ``bench``),
  ``profile``, ``size``, ``scheduler`` or ``probe``;
- a **case** is one workload on one cluster configuration (one repeat); its **outcome** is
  ``ok``, ``oom``, ``timeout`` or ``error``;
- a **peak** is an absolute RSS maximum (``peak_bytes``, ``peak_rss_bytes``); a **peak
  increase** is a peak minus the lowest RSS seen at the task's boundaries and those of tasks
  overlapping it (``peak_increase_bytes``);
- the **worker footprint** is what a worker process holds before it runs any task;
- a **profile** is a Fil (and memory_profiler) profile of one task function; a **scheduler
  preset** is one of ``configs/scheduler/*.toml`` (never called a profile).

Memory is integer bytes; durations are seconds; nothing is rounded for display here.

Schema history:
  1 — environment, cases[] (workload, corpus, config, wall time, outcome, answer check).
  2 — summary{} (a sweep's sizing model and Fil profiles); cost_gib_s; oom{}.
  3 — typed records per kind. Renamed: task_memory.worker_baseline_bytes → worker_footprint_bytes;
      model max_peak_bytes → max_peak_increase_bytes; kind "run" → "sweep"; a profile's
      status → outcome; profile records hold profiles[], scheduler records scenarios[],
      probe-accuracy records (kind "probe-bench" before) accuracy[], overhead, rows; the
      matrix flag profile → fil_profiles. Added: a profile's line_rss (memory_profiler).
  4 — size ladders: records of kind "size" (``memreplay size``) and a sweep's summary.ladders;
      the matrix setting size_ladder. Each case's scheduler (its own process, its profile):
      cases[].scheduler, config.scheduler_profile. Schema 3 records are read as they are (they
      have none of these).
  5 — any Dask cluster: cases[].cluster (kind, address, every worker's shape and package
      versions, version warnings), settings.matrix.cluster (where the cases' clusters come
      from), host on profiles and ladders (they run where memreplay runs); a replayed
      trace's cases[].fidelity. Schema 3 and 4 records are read as they are.
  6 — one name for each thing. Renamed: kind "probe-accuracy" → "probe"; "scheduler profile"
      → "scheduler preset" (config.scheduler_profile → config.scheduler_preset,
      cases[].scheduler.profile → cases[].scheduler.preset). Added: memreplay's version
      (environment.memreplay), timeline.started_unix_s. Records of schema 3, 4 and 5 are
      read with the old names mapped to the new (:data:`RENAMED_BEFORE_6`).
  7 — Dask's memory manager: cases[].memory_manager (per worker: thresholds, spilled bytes at
      their peak and at the end, disk reads and writes, seconds spilling and unspilling, time
      paused, managed and unmanaged memory at the worker's peak, its memory events);
      config.memory_thresholds (a memory preset, configs/memory/NAME.toml);
      cases[].kill_margin_percent and cases[].borderline; environment.memory (transparent huge
      pages, the malloc environment, the cgroup's limit, swap, distributed.worker.memory.*).
      timeline.csv gains the memory manager's columns. Records of schema 3 to 6 are read as
      they are (they have none of these).
  8 — size ladders' duration model: size_ladder.duration_model (a task's duration fitted on its
      input size, the largest input held out, as the peak increase is) and
      size_ladder.duration_repeat_errors_percent (each repeat's own held-out error);
      size_ladder.contended (the largest input on every core at once, what neighbours cost). Records of
      schema 3 to 7 are read as they are (their ladders' rungs hold the durations; the model is
      fitted from them when read, memreplay.analysis.model.ladder_duration_model).
  9 — the scheduler ladder (``memreplay scheduler --ladder``): a scheduler record's ladder
      (graphs of growing size held by a scheduler with no workers, a model per shape and
      preset, the bounded logs' part, the held-out graph executed on workers) and
      settings.ladder_sizes and ladder_shapes; a structure's capacity; a probe record's at_scale
      (the probe's overhead and what the collectors keep per task row at 100,000 tasks) and
      settings.scale_tasks and scale_repeats; the probe overhead's arms paired on one cluster
      (overhead.paired_ratios, at_scale.arms_per_process); a ladder point's rss_live_bytes (the
      graph's bytes read once the heap's free pages were handed back). Records of schema 3 to 8
      are read as they are (they have none of these).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from memreplay.plan.cluster_config import ClusterConfig
from memreplay.plan.cluster_source import ClusterSource

__all__ = [
    "BORDERLINE_PERCENT", "AccuracyRun", "CaseResult", "ClusterRecord", "ContendedRung", "CorpusRef", "DeadTask",
    "DurationModel", "ExecutedCheck", "GraphModel", "GraphPoint", "HeldOutTasks", "LogPart",
    "Environment", "FootprintComparison", "HeldOut", "HeldOutDuration",
    "LadderRung", "LargestTask", "LineRss", "MatrixSettings", "MemoryEnvironment", "MemoryEvent", "MemoryManager",
    "OomInfo", "Outcome", "Overhead", "PlannedCase",
    "PrefixModel", "PrefixSummary", "ReplayFidelity", "ProbeRecord", "ProbeAccuracySettings", "ProfileRecord",
    "ProfileSettings", "READABLE_SCHEMA_VERSIONS", "Record", "RowsCheck", "SCHEMA_VERSION", "ScaleOverhead",
    "SchedulerFootprint",
    "SchedulerLadder", "SchedulerRecord", "SchedulerScenario", "SchedulerSettings", "SizeLadder", "SizeRecord",
    "SizeSettings",
    "StructureComparison", "StructureSize", "SweepRecord", "SweepSettings", "SweepSummary", "TaskMemory",
    "SpilledBytes", "TaskProfile", "Timeline", "TopLine", "TruthRow", "WorkerMemory", "WorkerRecord", "WorkloadRef",
]

SCHEMA_VERSION = 9
READABLE_SCHEMA_VERSIONS = (3, 4, 5, 6, 7, 8, 9)  # 4, 5, 7, 8 and 9 only added fields; 6 renamed (see the history)

Outcome = Literal["ok", "oom", "timeout", "error"]
# An ok case whose largest worker peaked within this share of its kill line is borderline: the
# README's imagechunks 1x4 at 4 GiB, 2-3 % below it, ran out of memory in 3 of 6 identical sweeps.
BORDERLINE_PERCENT = 5.0
Bytes = Annotated[int, msgspec.Meta(ge=0)]  # a measured size: a hand-edited negative one is refused
Seconds = Annotated[float, msgspec.Meta(ge=0)]


class _Part(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Every part of a record: keyword-built, and a field this memreplay does not know is refused."""


class MemoryEnvironment(_Part, kw_only=True):
    """What changes memory figures on this machine without changing the code (schema 7)."""

    transparent_hugepages: str | None  # the kernel's mode (always, madvise, never); None: not Linux
    malloc: dict[str, str | None]  # MALLOC_TRIM_THRESHOLD_, MALLOC_ARENA_MAX here (None: unset)
    nanny_environ: dict[str, str]  # what a nanny sets in its worker's environment (pre-spawn-environ)
    cgroup_memory_limit_bytes: int | None  # None: no limit (or not in a cgroup)
    swap_bytes: Bytes
    worker_memory: dict[str, Any]  # distributed.worker.memory.* as resolved here


class Environment(_Part, kw_only=True):
    python: str
    python_implementation: str
    executable: str
    dask: str
    distributed: str
    numpy: str
    cpu_model: str
    cpu_count: int | None
    ram_bytes: Bytes
    os: str
    hostname: str
    git_commit: str | None
    memreplay: str | None = None  # its version (schema 6)
    memory: MemoryEnvironment | None = None  # schema 7


# --- sweep ------------------------------------------------------------------------------------


class WorkloadRef(_Part, kw_only=True):
    name: str
    version: int
    corpus: str


class CorpusRef(_Part, kw_only=True):
    kind: str
    root: str
    scale: float
    seed: int
    generator_version: int
    files: int
    total_bytes: Bytes


class OomInfo(_Part, kw_only=True):
    """Out of memory: the worker its nanny killed, the RSS at the kill, and the task that was executing."""

    task: str | None
    task_prefix: str | None = None
    worker: str | None
    peak_rss_bytes: Bytes | None
    workers_killed: int


class LargestTask(_Part, kw_only=True):
    task_key: str
    peak_increase_bytes: Bytes
    input_bytes: Bytes | None
    worker: str


class PrefixSummary(_Part, kw_only=True):
    tasks: int
    measured: int
    erred: int
    peak_increase_p50_bytes: Bytes | None
    peak_increase_p95_bytes: Bytes | None
    peak_increase_max_bytes: Bytes | None
    peak_increase_max_alone_bytes: Bytes | None = None  # among tasks alone in their worker: no neighbour's memory
    largest_task: LargestTask | None


class DeadTask(_Part, kw_only=True):
    """A task that was executing when its worker died (for instance, killed for memory)."""

    task_key: str
    task_prefix: str
    worker: str
    baseline_bytes: Bytes | None
    peak_bytes: Bytes | None


class TaskMemory(_Part, kw_only=True):
    csv: str
    rows: int
    alias_rows: int = 0  # rows of dask's aliases (no code of their own), not in by_prefix
    methods: list[str]
    worker_footprint_bytes: Bytes | None
    worker_died: list[DeadTask] = []
    by_prefix: dict[str, PrefixSummary] = {}


class Timeline(_Part, kw_only=True):
    csv: str
    png: str | None
    samples: int
    processes: list[str]
    peak_rss_bytes: dict[str, Bytes]
    plot_error: str | None = None  # the plot could not be drawn; the samples are kept
    started_unix_s: float | None = None  # the samples' time 0 (schema 6), to place tasks.csv's times on them


class SchedulerFootprint(_Part, kw_only=True):
    """A case's scheduler, in a process of its own under its scheduler preset: its RSS when the
    case started, its peak during the case (``peak_since``) and at the end; after the case, the
    entries and deep bytes of each bounded structure it keeps."""

    preset: str
    pid: int
    rss_start_bytes: Bytes
    rss_peak_bytes: Bytes
    peak_since: Literal["case start", "scheduler start"]  # exact since the case began, where Linux allows
    rss_end_bytes: Bytes
    transitions: int
    settings: dict[str, Any]  # the log-sizing keys as the scheduler resolved them
    structures: dict[str, StructureSize]


class SpilledBytes(_Part, kw_only=True):
    memory: Bytes  # the sizeof of what is on disk: what it took in memory
    disk: Bytes  # its size on disk (smaller when compressed)


class MemoryEvent(_Part, kw_only=True):
    time_s: Seconds  # since the case started
    action: str  # worker-status-change, add-worker, remove-worker, worker-restart-memory
    status: str | None = None  # the new status of a status change (paused, running, ...)


class WorkerMemory(_Part, kw_only=True):
    """Dask's memory manager on one worker during a case, in Dask's words: managed memory is the
    sizeof of the data the worker holds; unmanaged is its RSS minus that; spilled is data moved
    to disk. Counters are the case's (end minus start); None where the worker did not live to
    the end."""

    worker: str
    settings: dict[str, Any]  # memory_limit, target, spill, pause, terminate, spill-compression, max-spill
    spilling: bool  # the worker can spill (its data is a spill buffer)
    peak_rss_bytes: Bytes | None  # the largest RSS sample
    managed_at_peak_bytes: Bytes | None
    unmanaged_at_peak_bytes: Bytes | None
    spilled_peak: SpilledBytes | None  # the largest in any sample
    held_peak_bytes: Bytes | None = None  # the largest managed + spilled (sizeof) in any sample: the results it held
    spilled_end: SpilledBytes | None
    disk_write_bytes: Bytes | None = None
    disk_write_count: int | None = None
    disk_read_bytes: Bytes | None = None
    disk_read_count: int | None = None
    spill_s: Seconds | None = None  # serializing, compressing and writing what it spilled
    unspill_s: Seconds | None = None  # reading, decompressing and deserializing it back
    paused_s: Seconds = 0.0
    pauses: int = 0
    paused_spans: list[tuple[float, float]] = []  # (start, stop), seconds since the case started; the first 500
    paused_at_end: bool = False  # still paused when the case ended (or when the worker left)
    events: list[MemoryEvent] = []
    events_dropped: int = 0  # beyond the first EVENTS_KEPT


class MemoryManager(_Part, kw_only=True):
    """``CaseResult.memory_manager``: every worker of the case (schema 7)."""

    thresholds: str  # the memory preset's name
    workers: list[WorkerMemory]

    @property
    def spilled_peak_bytes(self) -> int:
        """Each worker's largest spilled bytes (sizeof), summed over the workers."""
        return sum(w.spilled_peak.memory for w in self.workers if w.spilled_peak)

    @property
    def disk_write_bytes(self) -> int:
        return sum(w.disk_write_bytes or 0 for w in self.workers)

    @property
    def paused_s(self) -> float:
        """Worker-seconds paused, summed over the workers."""
        return sum(w.paused_s for w in self.workers)

    @property
    def spilled(self) -> bool:
        return self.spilled_peak_bytes > 0 or self.disk_write_bytes > 0


class WorkerRecord(_Part, kw_only=True):
    address: str
    host: str
    nthreads: int
    memory_limit: Bytes | None  # None: the worker has no limit
    packages: dict[str, str | None]  # versions the worker reports (distributed's get_versions)


class ClusterRecord(_Part, kw_only=True):
    """The cluster a case ran on, as it was when the case started."""

    kind: Literal["own", "manager", "running"]
    manager: str | None = None
    address: str
    scheduler_packages: dict[str, str | None]
    workers: list[WorkerRecord]
    version_warnings: list[str] = []  # a package whose version differs from memreplay's own process


class ReplayFidelity(_Part, kw_only=True):
    """How closely a replay (``replay:TRACE``) reproduced its recording."""

    trace: str
    tasks: int  # tasks the trace measured to completion
    compared: int  # of those, replayed to completion alone in their worker (no neighbour's memory)
    within_tolerance: int  # of those, within the probe's accuracy, max(1 MiB, 1 %), of the trace's
    worst_error_bytes: int | None  # the replayed peak increase minus the trace's, largest in size
    peaks_ok: bool | None  # 95 % of the compared within (None: no task ran alone)
    span_trace_s: Seconds  # first task's start to last task's stop, as recorded
    span_replay_s: Seconds | None
    span_error_percent: float | None
    same_configuration: bool  # the case ran in the shape the trace was recorded on
    span_ok: bool | None  # within 15 %, on the same configuration (None: another configuration)
    outcome_trace: str
    outcome_replay: str
    outcome_ok: bool  # out of memory in both, or in neither
    spilled_trace_bytes: int | None = None  # written to spill files while recording (schema 7; trace version 2)
    spilled_replay_bytes: int | None = None  # and while replaying


class CaseResult(_Part, kw_only=True):
    id: str
    repeat: int = 0
    workload: WorkloadRef
    corpus: CorpusRef
    config: ClusterConfig
    directory: str
    outcome: Outcome
    error: str | None = None
    wall_time_s: Seconds | None
    cost_gib_s: float | None  # wall time × workers × memory limit: what a cloud bill charges
    answer_check: Literal["passed", "failed", "not checked"]
    oom: OomInfo | None = None
    notes: list[str] = []  # what the figures mean in this case, where it is not the usual
    task_memory: TaskMemory | None = None
    timeline: Timeline | None = None
    scheduler: SchedulerFootprint | None = None
    cluster: ClusterRecord | None = None  # schema 4 records: memreplay's own local cluster
    fidelity: ReplayFidelity | None = None  # a replayed trace's, against its recording
    memory_manager: MemoryManager | None = None  # schema 7
    # how far the largest worker's peak RSS stayed below its kill line, in percent of that line;
    # borderline: an ok case within BORDERLINE_PERCENT of it, which the next run may not survive
    kill_margin_percent: float | None = None
    borderline: bool = False


class HeldOut(_Part, kw_only=True):
    input_bytes: Bytes
    predicted_bytes: int
    measured_bytes: Bytes
    error_percent: float | None


class PrefixModel(_Part, kw_only=True):
    """Peak increase ≈ intercept + slope × input bytes, for one task prefix."""

    group: str
    points: int
    distinct_inputs: int
    slope: float
    intercept_bytes: int
    residual_std_bytes: int
    max_peak_increase_bytes: Bytes
    heldout: HeldOut


class HeldOutDuration(_Part, kw_only=True):
    input_bytes: Bytes
    predicted_s: float
    measured_s: Seconds
    error_percent: float | None


class DurationModel(_Part, kw_only=True):
    """Duration ≈ intercept + slope × input bytes, one task alone in a fresh process."""

    points: int
    distinct_inputs: int
    seconds_per_byte: float
    intercept_s: float
    residual_std_s: float
    max_duration_s: Seconds
    heldout: HeldOutDuration


class TopLine(_Part, kw_only=True):
    file: str
    line: int
    function: str
    code: str
    bytes: Bytes
    percent: float


class LineRss(_Part, kw_only=True):
    """memory_profiler's line-by-line view: RSS after the line ran, and what the line added."""

    file: str
    line: int
    code: str
    rss_bytes: Bytes
    increment_bytes: int
    occurrences: int


class TaskProfile(_Part, kw_only=True):
    """One task function profiled alone on one input: Fil's tracked allocations at the peak,
    beside memory_profiler's RSS line by line."""

    workload: str
    input: str
    input_bytes: Bytes
    figure: str
    outcome: Literal["ok", "failed", "skipped"]
    reason: str | None = None
    directory: str | None = None
    outputs: list[str] = []
    peak_tracked_bytes: Bytes | None = None
    svg_title_bytes: Bytes | None = None
    top_lines: list[TopLine] = []
    line_rss: list[LineRss] | None = None
    line_rss_error: str | None = None
    host: str | None = None  # the machine it ran on: where memreplay runs, never a cluster's worker


class PlannedCase(_Part, kw_only=True):
    id: str
    workload: str
    workload_version: int
    repeat: int
    config: ClusterConfig


class MatrixSettings(_Part, kw_only=True):
    source: str
    scale: float
    repeats: int
    timeout_s: float | None
    fil_profiles: bool
    size_ladder: bool = False  # schema 3 sweeps had none
    ladder_repeats: int = 3
    cluster: ClusterSource = ClusterSource()
    cases: list[PlannedCase]


class SweepSettings(_Part, kw_only=True):
    matrix: MatrixSettings


class LadderRung(_Part, kw_only=True):
    """One input size of a size ladder: a leading fraction of the corpus' largest file."""

    fraction: float
    input_bytes: Bytes
    peak_increase_bytes: list[Bytes]  # one per repeat, each in a fresh process
    duration_s: list[Seconds]


class ContendedRung(_Part, kw_only=True):
    """The ladder's largest input run on every core at once, each copy in a fresh process started
    together: what neighbours cost a task (memory bandwidth, caches, the shared cores)."""

    processes: int
    input_bytes: Bytes
    duration_s: list[Seconds]  # one per process
    peak_increase_bytes: list[Bytes]


class SizeLadder(_Part, kw_only=True):
    """A workload's task function alone, in a fresh process per measurement, on inputs of
    geometric sizes; the fit of peak increase on input size, checked on the largest input."""

    workload: str
    prefix: str  # the task prefix a sweep's rows of this function carry
    source: str  # the corpus file the inputs were cut from
    cut: str  # how: "leading lines" of a text file, "leading planes" of an array
    method: str  # the peak meter: clear_refs (exact) or sampling
    repeats: int
    outcome: Literal["ok", "failed"]
    reason: str | None = None
    rungs: list[LadderRung] = []
    model: PrefixModel | None = None  # slope and intercept over every rung; held out: the largest
    repeat_errors_percent: list[float | None] = []  # the held-out error of each repeat alone
    grows: bool | None = None  # its peak increase grows with its input (else the goal is ±2 MiB)
    meets_goal: bool | None = None
    host: str | None = None  # the machine it ran on: where memreplay runs, never a cluster's worker
    # schema 8: the duration fitted the same way (the largest input held out), and each repeat's
    # own held-out error; before 8, memreplay.analysis.model.ladder_duration_model fits it on reading
    duration_model: DurationModel | None = None
    duration_repeat_errors_percent: list[float | None] = []
    contended: ContendedRung | None = None  # the largest input on every core at once (schema 8)


class SweepSummary(_Part, kw_only=True):
    model: dict[str, PrefixModel] = {}
    ladders: list[SizeLadder] = []
    profiles: list[TaskProfile] = []


# --- scheduler --------------------------------------------------------------------------------


class StructureSize(_Part, kw_only=True):
    entries: int
    bytes: Bytes
    capacity: int | None = None  # the entries its length settings allow (None: unbounded, or not recorded)


class SchedulerScenario(_Part, kw_only=True):
    label: str  # default, trimmed, default-again
    preset: dict[str, Any]
    tasks: int
    load_s: float
    idle_s: float
    rss_start_bytes: Bytes
    rss_end_bytes: Bytes
    rss_timeline: list[tuple[float, int]]
    structures: dict[str, StructureSize]
    settings: dict[str, Any]
    transitions: int
    pid: int
    dask: str


class StructureComparison(_Part, kw_only=True):
    structure: str
    default: StructureSize
    trimmed: StructureSize
    default_bytes_per_entry: float | None
    trimmed_bytes_per_entry: float | None
    saving_bytes: int
    published_bytes_per_entry: int | None


class FootprintComparison(_Part, kw_only=True):
    distributed: str
    rows: list[StructureComparison]
    structures_default_bytes: int
    structures_saving_bytes: int
    rss_default_bytes: int
    rss_trimmed_bytes: int
    rss_default_again_bytes: int
    rss_saving_bytes: int
    rss_saving_percent: float
    rss_noise_bytes: int
    reconciled_percent: float | None


class SchedulerSettings(_Part, kw_only=True):
    transitions: int
    idle_s: float
    ladder_sizes: list[int] = []  # tasks per graph on the ladder, the largest held out (none: no ladder)
    ladder_shapes: list[str] = []


class GraphPoint(_Part, kw_only=True):
    """One graph held by a fresh scheduler with no workers (submitted, never run)."""

    preset: str
    shape: str  # independent, tree, shuffle
    tasks: int
    edges: int  # dependencies between its tasks
    rss_before_bytes: Bytes  # the scheduler's RSS before the graph was submitted (its free pages handed back)
    rss_held_bytes: Bytes  # its RSS with the graph held, as it sits
    logs_bytes: Bytes  # deep size of its bounded logs with the graph held
    submit_s: Seconds
    # its RSS with the graph held once the C library handed its free pages back (malloc_trim):
    # what is live; None in older schema-9 records or where the C library has no malloc_trim
    rss_live_bytes: Bytes | None = None

    @property
    def graph_bytes(self) -> int:
        """What the graph itself holds: the RSS it added (live, where measured), less what the
        logs hold."""
        with_graph = self.rss_held_bytes if self.rss_live_bytes is None else self.rss_live_bytes
        return with_graph - self.rss_before_bytes - self.logs_bytes


class HeldOutTasks(_Part, kw_only=True):
    tasks: int
    predicted_bytes: int
    measured_bytes: int
    error_percent: float | None


class GraphModel(_Part, kw_only=True):
    """Graph bytes ≈ intercept + per task × tasks, for one shape under one preset (held, never
    run); and, from the second-largest graph run on workers, what running adds per task (its results
    and their workers kept while held) and the transitions a task makes."""

    preset: str
    shape: str
    points: int
    bytes_per_task: float
    intercept_bytes: int
    residual_std_bytes: int
    base_rss_bytes: Bytes  # a fresh scheduler's RSS before any graph, no workers (the median of the points)
    heldout: HeldOutTasks
    running_bytes_per_task: float | None = None  # None: no graph of this shape was run
    transitions_per_task: float | None = None


class LogPart(_Part, kw_only=True):
    """One bounded log under one preset, from a run that executed tasks: what an entry holds,
    how many entries a transition adds, and the most its length settings let it hold."""

    structure: str
    bytes_per_entry: float | None
    entries_per_transition: float  # a lower bound where the log was full when measured
    capacity: int | None  # None: unbounded
    bound_bytes: int | None  # bytes per entry × capacity
    full: bool = False  # at its capacity when measured: full after as many transitions, or fewer


class ExecutedCheck(_Part, kw_only=True):
    """A graph run on workers: the scheduler's peak RSS. The second-largest graph calibrates what
    running adds (role "calibration"); the largest is predicted and checked (role "check")."""

    role: Literal["calibration", "check"]
    preset: str
    shape: str
    tasks: int
    workers: int
    transitions: int
    rss_start_bytes: Bytes  # the scheduler's RSS with its workers, before the graph
    predicted_bytes: int | None  # the check's: start + graph + running + logs for this many tasks
    peak_bytes: Bytes  # the scheduler's peak RSS while the graph ran
    peak_method: str  # clear_refs (exact) or lifetime (the process's peak since it started)
    error_percent: float | None
    seconds: Seconds


class SchedulerLadder(_Part, kw_only=True):
    points: list[GraphPoint] = []
    models: list[GraphModel] = []
    logs: dict[str, list[LogPart]] = {}  # preset → its bounded logs
    executed: list[ExecutedCheck] = []


# --- probe accuracy ----------------------------------------------------------------------------


class TruthRow(_Part, kw_only=True):
    key: str
    truth_bytes: Bytes
    seconds: float
    bucket: str
    measured_bytes: Bytes | None
    error_bytes: int | None
    within_tolerance: bool
    at_least_truth: bool
    concurrent_tasks: int | None


class AccuracyRun(_Part, kw_only=True):
    probe: str
    threads: int
    rows: list[TruthRow]


class Overhead(_Part, kw_only=True):
    tasks: int
    repeats: int
    seconds: dict[str, list[float]]  # arm → each run's wall time (each repeat's unprobed runs, for none)
    # each arm's tasks in a repeat ran in this many blocks, one per round of every arm (1: at once,
    # as before schema 9's rounds): seconds are then each repeat's totals
    median_seconds: dict[str, float]
    overhead_ratio: dict[str, float]
    paired_ratio_median: dict[str, float]
    # arm → each run over the unprobed runs beside it on the same cluster (for none: each over the
    # one before it, the noise floor). None: a record whose arms each ran on a fresh cluster, paired
    # repeat by repeat.
    paired_ratios: dict[str, list[float]] | None = None
    blocks: int = 1


class ScaleOverhead(_Part, kw_only=True):
    """Many tiny tasks on a ``dask scheduler`` process of its own with 2 workers, without a probe
    and with the collectors a case installs (per-task rows and the timeline), interleaved: the
    wall-time ratio and what the scheduler keeps per task row once the graph is gone."""

    tasks: int
    repeats: int
    seconds: dict[str, list[float]]  # arm (none, memreplay) → each repeat's wall time
    paired_ratio_median: float  # memreplay over none, repeat by repeat
    paired_ratio_range: tuple[float, float]
    # the scheduler's RSS after the graph was forgotten, less before it: each fresh process's first graph
    growth_bytes: dict[str, list[int]]
    growth_per_row_bytes: float  # (memreplay's median growth − none's) / tasks
    held_bytes: list[int]  # the collectors' own state in the scheduler at the end, deep, per repeat
    held_per_row_bytes: float  # the largest of those / tasks
    # 2: each repeat one process running both arms, the first alternating (a ratio pairs the arms
    # of one process); 1: each arm on a fresh process of its own
    arms_per_process: int = 1


class RowsCheck(_Part, kw_only=True):
    tasks: int
    rows: int
    missing: int
    seconds: float


class ProbeAccuracySettings(_Part, kw_only=True):
    truth_tasks: int
    tiny_tasks: int
    repeats: int
    rows_tasks: int
    scale_tasks: int = 0  # the at-scale arm's tasks (0: not run, as before schema 9)
    scale_repeats: int = 0
    blocks: int = 1  # rounds of the overhead arms (1: each arm's tasks at once, as before)


class SizeSettings(_Part, kw_only=True):
    scale: float
    repeats: int
    fractions: list[float]
    timeout_s: float


class ProfileSettings(_Part, kw_only=True):
    scale: float
    timeout_s: float


# --- the records --------------------------------------------------------------------------------


class _Record(_Part, tag_field="kind", kw_only=True):
    schema_version: int = SCHEMA_VERSION
    created: str
    environment: Environment


class SweepRecord(_Record, tag="sweep", kw_only=True):
    settings: SweepSettings
    cases: list[CaseResult] = []
    summary: SweepSummary = msgspec.field(default_factory=SweepSummary)


class ProfileRecord(_Record, tag="profile", kw_only=True):
    settings: ProfileSettings
    profiles: list[TaskProfile] = []


class SchedulerRecord(_Record, tag="scheduler", kw_only=True):
    settings: SchedulerSettings
    scenarios: list[SchedulerScenario] = []
    comparison: FootprintComparison | None = None
    ladder: SchedulerLadder | None = None  # memreplay scheduler --ladder


class ProbeRecord(_Record, tag="probe", kw_only=True):
    """``memreplay probe``: the per-task probe's accuracy on a ground truth and its overhead,
    beside dask-memusage."""

    settings: ProbeAccuracySettings
    accuracy: list[AccuracyRun] = []
    overhead: Overhead | None = None
    rows: RowsCheck | None = None
    at_scale: ScaleOverhead | None = None


class SizeRecord(_Record, tag="size", kw_only=True):
    settings: SizeSettings
    ladders: list[SizeLadder] = []


Record = SweepRecord | ProfileRecord | SchedulerRecord | ProbeRecord | SizeRecord
