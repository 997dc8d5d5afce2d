"""A pipeline's cost report: per step (and subtask) tokens, cost and backend; the same work at the reference
(frontier) model's prices; the saving, and beside it what it cost in quality: each local answer is run through
the answer checks, as ``hybrid report`` does (see :mod:`hybrid.report`). Only answered steps count towards the
saving and the checks: a failed step's work saved nothing and served no one, though what it spent is spent."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from hybrid.report import Checks, fired_names, tally_checks
from hybrid.types import Completion


@dataclass(frozen=True)
class CostLine:
    step: str
    task: str
    status: str
    backend: str | None = None
    model: str | None = None
    is_local: bool | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float = 0.0
    frontier_cost: float = 0.0
    latency_s: float | None = None
    fired: tuple[str, ...] | None = None
    """The answer checks that fired on a local answer (None for a cloud answer or a step without one)."""


@dataclass(frozen=True)
class CostReport:
    pipeline: str
    reference: str
    lines: tuple[CostLine, ...]

    @property
    def answered(self) -> tuple[CostLine, ...]:
        """The lines whose answer was used: a failed step's work saved nothing and served no one."""
        return tuple(line for line in self.lines if line.status == "done")

    @property
    def cost(self) -> float:
        """Everything spent, failed steps included."""
        return sum(line.cost for line in self.lines)

    @property
    def frontier_cost(self) -> float:
        """The answered steps at the reference model's prices."""
        return sum(line.frontier_cost for line in self.answered)

    @property
    def saving(self) -> float:
        return self.frontier_cost - self.cost

    @property
    def input_tokens(self) -> int:
        return sum(line.input_tokens for line in self.lines)

    @property
    def output_tokens(self) -> int:
        return sum(line.output_tokens for line in self.lines)

    @property
    def checks(self) -> Checks:
        return tally_checks((True, [list(line.fired)]) for line in self.answered if line.fired is not None)

    def summary(self) -> str:
        share = f" ({self.saving / self.frontier_cost:.0%})" if self.frontier_cost > 0 else ""
        unused = [line for line in self.lines if line.status != "done" and line.backend]
        left_out = (f"; not counted as saved: {', '.join(f'{line.step} ({line.status})' for line in unused)}, "
                    f"${sum(line.frontier_cost for line in unused):.6f} at {self.reference}'s prices"
                    if unused else "")
        return (f"spent ${self.cost:.6f}; all-frontier ({self.reference}) ${self.frontier_cost:.6f}; "
                f"saved ${self.saving:.6f}{share}{left_out}")

    def quality(self) -> str:
        """What the saving cost in quality: the answered local steps' check verdicts."""
        return f"at this cost in quality: {self.checks.describe()}"

    def table(self) -> str:
        header = ("step", "task", "status", "backend", "where", "tokens", "latency", "cost", "all-frontier")
        rows = [header]
        for line in self.lines:
            where = "" if line.is_local is None else ("local" if line.is_local else "cloud")
            rows.append((
                line.step, line.task, line.status, line.backend or "-", where,
                f"{line.input_tokens}+{line.output_tokens}",
                "-" if line.latency_s is None else f"{line.latency_s:.2f}s",
                f"${line.cost:.6f}", f"${line.frontier_cost:.6f}" if line.status == "done" else "-",
            ))
        rows.append(("total", "", "", "", "", f"{self.input_tokens}+{self.output_tokens}", "",
                     f"${self.cost:.6f}", f"${self.frontier_cost:.6f}"))
        widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
        lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join([f"cost report: pipeline {self.pipeline}", *lines, self.summary(), self.quality()])


def _line(step: str, task: str, status: str, c: Completion | None, backends: Mapping[str, Any], ref,
          prompt: str | None) -> CostLine:
    if c is None:
        return CostLine(step, task, status)
    is_local = backends[c.backend].is_local
    return CostLine(
        step, task, status, c.backend, c.model, is_local, c.usage.input_tokens,
        c.usage.output_tokens, c.cost, ref.cost(c.usage), c.latency_s,
        tuple(fired_names(prompt, c.text, c.finish_reason)) if is_local else None,
    )


def cost_report(pipeline: str, steps: Iterable[Any], backends: Mapping[str, Any], reference: str) -> CostReport:
    """``steps`` are ``StepResult``s; each subtask gets its own line under its step."""
    ref = backends[reference].price
    lines = []
    for s in steps:
        lines.append(_line(s.name, s.task, s.status, s.completion, backends, ref, s.prompt))
        for i, sub in enumerate(s.subtasks, 1):
            lines.append(_line(f"{s.name}[{i}]", sub.task, "done", sub.completion, backends, ref, sub.prompt))
    return CostReport(pipeline, reference, tuple(lines))
