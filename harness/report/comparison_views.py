"""``memreplay compare`` as people read it: a terminal table, a Markdown summary for a CI job,
and an HTML page. All three put outcome changes first, then the environments that differ,
then every matched case with each figure's change against its noise floor."""

from __future__ import annotations

import textwrap
from pathlib import Path

from dask.utils import format_bytes

from memreplay.analysis.compare import FIGURES, CaseComparison, Figure, RunComparison
from memreplay.analysis.regression import Comparison
from memreplay.records.task_rows import MIB
from memreplay.report.html_page import Items, Plots, Section, Table, Text, write_page
from memreplay.report.plots import change_plot
from memreplay.report.table import format_table
from memreplay.report.units import signed_bytes

__all__ = ["comparison_markdown", "comparison_text", "write_comparison_page"]


def _value(figure: Figure, value: float | None) -> str:
    if value is None:
        return "-"
    if figure.unit == "bytes":
        return format_bytes(int(value))
    return f"{value:.2f} s" if figure.unit == "s" else f"{value:,.1f} GiB·s"


def _change(figure: Figure, c: Comparison) -> str:
    if c.base is None or c.head is None:
        return "-"
    delta = c.head - c.base
    shown = {"bytes": signed_bytes(delta), "s": f"{delta:+.2f} s", "GiB·s": f"{delta:+,.1f} GiB·s"}[figure.unit]
    return shown + ("" if c.ratio is None else f" ({100 * (c.ratio - 1):+.1f} %)")


def _short(figure: Figure, value: float) -> str:
    return f"{value / MIB:,.1f}" if figure.unit == "bytes" else f"{value:,.2f}"


def _cell(case: CaseComparison, figure: Figure) -> str:
    """``55.6 → 57.7 MiB (+3.7 %)``; ``!`` beyond the noise floor, REGRESSED failing the rule."""
    c = case.figures[figure.name]
    unit = {"bytes": "MiB", "s": "s", "GiB·s": "GiB·s"}[figure.unit]
    if c.base is None or c.head is None:
        shown = next((v for v in (c.base, c.head) if v is not None), None)
        return "-" if shown is None else f"{'HEAD' if c.base is None else 'BASE'} only: {_short(figure, shown)} {unit}"
    text = f"{_short(figure, c.base)} → {_short(figure, c.head)} {unit}"
    if c.ratio is not None:
        text += f" ({100 * (c.ratio - 1):+.1f} %)"
    if case.regressed(figure):
        return text + " REGRESSED"
    # '!' only where a floor is known: with no noise in the records, time has none to be beyond
    return text + (" !" if case.floors[figure.name] > 0 and case.beyond_floor(figure) else "")


def _verdict(case: CaseComparison) -> str:
    worse = [f.label for f in FIGURES if case.regressed(f)]
    if case.base_outcome is None or case.head_outcome is None:
        return f"only in {'HEAD' if case.base_outcome is None else 'BASE'}"
    if case.base_outcome == "ok" and case.head_outcome != "ok":
        return f"{case.head_outcome}, borderline: noise" if case.outcome_noise else f"REGRESSED: {case.head_outcome}"
    return "REGRESSED: " + ", ".join(worse) if worse else "passed"


def _rule_text(comparison: RunComparison) -> str:
    return (f"A memory figure fails when worse by more than {comparison.rule.threshold:.0%} and by more than its "
            f"noise floor: {format_bytes(int(comparison.rule.floor))} or the noise the records show, whichever is "
            f"larger (noise: {comparison.noise_source}). Time and cost are shown, never gated, and so is the "
            "largest task and worker peak RSS where workers ran several threads, unless repeats or an A/A run "
            "measured their noise (they move with how tasks overlapped); '!' marks a change beyond its noise "
            "floor.")


def _headlines(comparison: RunComparison) -> list[str]:
    lines = [f"{' '.join(c.key)}: {c.base or 'not run'} → {c.head or 'not run'}"
             + (" (REGRESSED)" if c.regressed else
                " (noise: the ok run peaked within a few percent of its kill line; repeat it to tell)" if c.noise
                else "") for c in comparison.outcome_changes]
    lines += [f"environment differs: {d.field} {d.base} → {d.head}" + ("" if d.warned else " (expected)")
              for d in comparison.environment]
    return lines


# the rest: the HTML page
_TERMINAL = ("largest_peak_increase_bytes", "worker_peak_rss_bytes", "spilled_bytes", "paused_s", "wall_time_s")


def comparison_text(comparison: RunComparison, names: tuple[str, str]) -> str:
    shown = [f for f in FIGURES if f.name in _TERMINAL]
    rows = [(*case.key, *(_cell(case, f) for f in shown), _verdict(case)) for case in comparison.cases]
    headers = ("workload", "configuration", *(f.label for f in shown), "verdict")
    verdict = "REGRESSED" if comparison.regressed else "passed"
    parts = [f"BASE {names[0]}\nHEAD {names[1]}", "\n".join(_headlines(comparison)),
             textwrap.fill(_rule_text(comparison), 100), format_table(headers, rows), f"memory comparison: {verdict}"]
    return "\n\n".join(part for part in parts if part)


_MARKDOWN_SPECIAL = str.maketrans({**{c: f"\\{c}" for c in "\\`*_[]()!|#~"}, "<": "&lt;", ">": "&gt;",
                                   "\n": " "})


def _markdown_cell(text: str) -> str:
    """User text inert in GitHub Markdown: no link, image, code span or table cell break."""
    return text.translate(_MARKDOWN_SPECIAL)


def comparison_markdown(comparison: RunComparison, names: tuple[str, str]) -> str:
    """A summary for a CI job page (``$GITHUB_STEP_SUMMARY``): verdict, outcome changes,
    environment, the gated figures of every case. User text is escaped for Markdown tables."""
    verdict = "❌ memory regressed" if comparison.regressed else "✅ no memory regression"
    lines = [f"### memreplay compare: {verdict}", "",
             f"BASE {_markdown_cell(names[0])} · HEAD {_markdown_cell(names[1])}", ""]
    lines += [f"- {_markdown_cell(line)}" for line in _headlines(comparison)]
    lines += ["", _markdown_cell(_rule_text(comparison)), ""]
    gated = [f for f in FIGURES if f.gated]
    lines.append("| workload | configuration | " + " | ".join(f.label for f in gated) + " | verdict |")
    lines.append("|---|---|" + "---|" * len(gated) + "---|")
    for case in comparison.cases:
        cells = [*case.key, *(_cell(case, f) for f in gated), _verdict(case)]
        lines.append("| " + " | ".join(_markdown_cell(cell) for cell in cells) + " |")
    return "\n".join(lines) + "\n"


def write_comparison_page(path: Path, comparison: RunComparison, names: tuple[str, str]) -> Path:
    verdict = ("Memory regressed." if comparison.regressed else
               "No memory figure got worse beyond the rule, and no case that finished stopped finishing.")
    worse = [f"{' '.join(key)}: {figure.label} {_change(figure, c)}" for key, figure, c in comparison.regressions]
    sections = [Section("The answer", [Items([verdict, *_headlines(comparison), *worse]),
                                       Text(_rule_text(comparison), note=True)],
                        style="regressed" if comparison.regressed else "answer")]
    gated = [f for f in FIGURES if f.gated]
    sections.append(Section("Change per case", [Plots([
        change_plot(f"{figure.label}: HEAD against BASE", [" ".join(case.key) for case in comparison.cases],
                    [case.figures[figure.name].ratio for case in comparison.cases],
                    [case.regressed(figure) for case in comparison.cases],
                    comparison.rule.threshold) for figure in gated])]))
    for figure in FIGURES:
        rows, styles = [], []
        for case in comparison.cases:
            c = case.figures[figure.name]
            floor = case.floors[figure.name]
            known = floor > 0 or figure.gated  # time's floor is only known from repeats or an A/A run
            verdict = c.verdict if case.gates(figure) else c.verdict.replace(", within the gate", "").replace(
                "regressed", "worse beyond the rule, not gated")
            rows.append((*case.key, case.base_outcome or "-", case.head_outcome or "-", _value(figure, c.base),
                         _value(figure, c.head), _change(figure, c), _value(figure, floor) if known else "unknown",
                         ("beyond" if case.beyond_floor(figure) else "within") if known else "-", verdict))
            styles.append("flag" if case.regressed(figure) else
                          "good" if c.verdict == "better" and case.beyond_floor(figure) else "")
        sections.append(Section(f"{figure.label[0].upper()}{figure.label[1:]}" + ("" if figure.gated else
                                                                                   " (not gated)"), [
            Table(("workload", "configuration", "BASE outcome", "HEAD outcome", "BASE", "HEAD", "change",
                   "noise floor", "change vs floor", "verdict"), rows, numeric=(4, 5, 6, 7), row_styles=styles)]))
    if comparison.environment:
        sections.append(Section("Environments that differ", [
            Table(("", "BASE", "HEAD", ""), [(d.field, d.base, d.head, "warning" if d.warned else "expected")
                                             for d in comparison.environment])], style="warning"))
    return write_page(path, "memreplay comparison", f"BASE {names[0]} · HEAD {names[1]}", sections)
