"""Traces as trees: a pipeline run, its steps and their subtasks, read back from the trace store.

The critical path is the chain of steps that decided the run's latency: start from the step that finished
last, and walk back through the dependency of each step that finished last.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rich.markup import escape
from rich.tree import Tree

from hybrid.display import one_line
from hybrid.step_text import step_line
from hybrid.trace import RequestRecord, StepRecord

CLIP = 160


@dataclass(frozen=True)
class SpanNode:
    record: RequestRecord
    children: tuple[SpanNode, ...] = ()

    @property
    def name(self) -> str:
        r = self.record
        return r.metadata.get("step") or (f"pipeline {r.metadata.get('pipeline', '')}".strip()
                                          if r.kind == "pipeline" else r.task)

    @property
    def end(self) -> float:
        return self.record.created_at + (self.record.latency_s or 0.0)


def load_tree(store: Any, record: RequestRecord, depth: int = 4) -> SpanNode:
    children = store.children(record.id) if depth > 0 else []
    return SpanNode(record, tuple(load_tree(store, c, depth - 1) for c in children))


def critical_path(spans: Mapping[str, tuple[float, float, Iterable[str]]]) -> list[str]:
    """``spans``: name -> (start, end, names it waited for). Returns the critical path, first step first."""
    if not spans:
        return []
    path = [max(spans, key=lambda n: spans[n][1])]
    while True:
        needs = [n for n in spans[path[-1]][2] if n in spans]
        if not needs:
            return path[::-1]
        path.append(max(needs, key=lambda n: spans[n][1]))


def critical_ids(node: SpanNode) -> set[str]:
    """Ids of the children of a pipeline run that lie on its critical path."""
    graph = node.record.params.get("graph") or {}
    by_name = {child.name: child for child in node.children if child.record.status != "cancelled"}
    spans = {name: (c.record.created_at, c.end, graph.get(name, ())) for name, c in by_name.items()}
    return {by_name[name].record.id for name in critical_path(spans)}


def _money(value: float | None) -> str:
    return "-" if value is None else f"${value:.6f}"


def _clip(text: str | None) -> str:
    return escape(one_line(text, CLIP))


def _label(node: SpanNode, critical: bool) -> str:
    r = node.record
    status = {"done": "green", "failed": "bold red", "cancelled": "yellow"}.get(r.status, "cyan")
    parts = [f"[bold]{escape(node.name)}[/]", f"[{status}]{escape(r.status)}[/]"]
    if r.kind == "pipeline":
        parts.append(escape(r.id))
    else:
        parts.append(f"task={escape(r.task)}")
        if r.backend:
            where = "local" if r.is_local else "cloud"
            parts.append(f"{where} {escape(r.backend)} ({escape(r.model or '?')})")
        if r.input_tokens is not None:
            parts.append(f"{r.input_tokens}+{r.output_tokens or 0} tok")
    if r.latency_s is not None:
        parts.append(f"{r.latency_s:.2f}s")
    parts.append(_money(r.cost))
    if r.feedback:
        parts.append(f"feedback={escape(r.feedback)}")
    if r.kind == "pipeline" and r.frontier_cost is not None:
        parts.append(f"all-frontier {_money(r.frontier_cost)}, saved {_money(r.frontier_cost - (r.cost or 0))}")
    if critical:
        parts.append("[magenta]★ critical path[/]")
    return "  ".join(parts)


def _add(tree: Tree, node: SpanNode, critical: set[str]) -> None:
    branch = tree.add(_label(node, node.record.id in critical))
    r = node.record
    if r.kind == "request" and r.reasons:
        branch.add(f"[dim]why: {_clip('; '.join(r.reasons))}[/]")
    if r.status in ("failed", "cancelled"):
        if r.prompt:
            branch.add(f"[dim]input:[/] {_clip(r.prompt)}")
        if r.output:
            branch.add(f"[dim]output:[/] {_clip(r.output)}")
        branch.add(f"[red]error:[/] {_clip(r.error)}")
    inner = critical_ids(node) if r.kind == "pipeline" else set()
    for child in node.children:
        _add(branch, child, inner)


def render_tree(node: SpanNode, steps: Sequence[StepRecord] = ()) -> Tree:
    """The span tree as a ``rich`` Tree: per span status, model, tokens, latency, cost; the critical path
    marked; failed spans with their input, output and error.

    ``steps``: the root request's own steps (classify, route, each backend call, the draft's verdict), listed
    under it after why it was routed as it was, one line each as ``hybrid logs`` prints them.
    """
    tree = Tree(_label(node, False), guide_style="dim")
    r = node.record
    if r.reasons and r.kind == "pipeline":
        for reason in r.reasons:
            tree.add(f"[dim]{escape(reason)}[/]")
    if r.reasons and r.kind == "request" and steps:
        why = tree.add("[dim]why:[/]")
        for reason in r.reasons:
            why.add(f"[dim]{_clip(reason)}[/]")
    for step in steps:
        facts, detail = step_line(step)
        tree.add(f"{step.seq}. [bold]{escape(step.kind)}[/] {escape(facts)}  {_clip(detail)}")
    if r.status == "failed" and r.kind != "pipeline":
        tree.add(f"[dim]input:[/] {_clip(r.prompt)}")
        tree.add(f"[red]error:[/] {_clip(r.error)}")
    critical = critical_ids(node) if r.kind == "pipeline" else set()
    for child in node.children:
        _add(tree, child, critical)
    return tree
