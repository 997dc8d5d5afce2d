"""The full trace of one request as a ``rich.tree.Tree``: decision, every step, and chained children.

A pipeline run opens with its span tree (``hybrid.span_tree``): each step's status, model, tokens, latency
and cost, the critical path marked, a failed step's input, output and error.

All trace text is untrusted and goes in through ``tui.text.safe``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from rich.console import Group
from rich.text import Text
from rich.tree import Tree

from hybrid.span_tree import SpanNode, render_tree
from hybrid.trace import RequestRecord, StepRecord
from tui.rows import money
from tui.text import safe

MAX_TEXT = 4000


@dataclass(frozen=True)
class TraceNode:
    """A request, its steps, and the requests that consumed its output."""

    record: RequestRecord
    steps: tuple[StepRecord, ...]
    children: tuple[TraceNode, ...] = ()


def load_node(trace: Any, record: RequestRecord, depth: int = 3) -> TraceNode:
    """Read ``record``'s steps and (to ``depth``) its children from the store. Call from a worker."""
    children = trace.children(record.id) if depth > 0 else []
    return TraceNode(record, tuple(trace.steps(record.id)), tuple(load_node(trace, c, depth - 1) for c in children))


def _clip(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + f"… ({len(text) - MAX_TEXT} more characters)"


def _field(label: str, value: object, style: str = "") -> Text:
    text = Text(f"{label}: ", "bold")
    text.append_text(safe(_clip(str(value)), style, multiline=True))
    return text


def _facts(pairs: Sequence[tuple[str, object]]) -> Text:
    text = Text()
    for name, value in pairs:
        if value is None:
            continue
        if text:
            text.append(" · ", "dim")
        text.append(f"{name} ", "dim")
        text.append_text(safe(value))
    return text


def _messages(tree: Tree, messages: list) -> None:
    for m in messages:
        if isinstance(m, dict):
            tree.add(_field(str(m.get("role", "?")), m.get("content", ""), "italic"))


def _step(tree: Tree, s: StepRecord) -> None:
    title = Text(f"{s.seq}. ", "dim")
    title.append_text(safe(s.kind, "bold cyan"))
    title.append("  ")
    title.append_text(_facts([
        ("backend", s.backend), ("model", s.model),
        ("tokens", None if s.input_tokens is None else f"{s.input_tokens}+{s.output_tokens or 0}"),
        ("latency", None if s.duration_s is None else f"{s.duration_s * 1000:.0f}ms"),
        ("cost", None if s.cost is None else money(s.cost)),
    ]))
    node = tree.add(title)
    data_in, data_out = s.input, s.output
    if isinstance(data_in, dict):
        if isinstance(data_in.get("messages"), list):
            _messages(node.add(Text("input", "dim")), data_in["messages"])
        rest = {k: v for k, v in data_in.items() if k != "messages"}
        if rest:
            node.add(_field("input", json.dumps(rest, ensure_ascii=False)))
    elif data_in is not None:
        node.add(_field("input", data_in))
    if isinstance(data_out, dict) and "text" in data_out:
        node.add(_field("output", data_out.get("text") or ""))
        rest = {k: v for k, v in data_out.items() if k != "text" and v is not None}
        if rest:
            node.add(_field("details", json.dumps(rest, ensure_ascii=False)))
    elif isinstance(data_out, dict) and s.kind == "route":
        node.add(_field("target", data_out.get("target")))
        for reason in data_out.get("reasons") or []:
            node.add(safe("• " + str(reason), multiline=True))
    elif data_out is not None:
        node.add(_field("output", json.dumps(data_out, ensure_ascii=False)))
    if s.error:
        node.add(_field("error", s.error, "red"))


def _title(r: RequestRecord, fmt_time: Callable[[float], str]) -> Text:
    title = Text("request ", "bold")
    title.append_text(safe(r.id, "bold"))
    title.append(f"  {fmt_time(r.created_at)}  ", "dim")
    title.append_text(safe(r.status, "green" if r.status == "done" else "yellow"))
    return title


def _spans(node: TraceNode) -> SpanNode:
    return SpanNode(node.record, tuple(_spans(child) for child in node.children))


def request_tree(node: TraceNode, fmt_time: Callable[[float], str]) -> Tree:
    r = node.record
    tree = Tree(_title(r, fmt_time), guide_style="dim")
    if r.kind == "pipeline":
        tree.add(Text("pipeline steps (per-step cost and latency; ★ marks the critical path)", "bold")).add(
            render_tree(_spans(node)))
    tree.add(_field("prompt", r.prompt))
    where = None if r.is_local is None else ("local" if r.is_local else "cloud")
    tree.add(_facts([
        ("task", r.task), ("mode", r.mode), ("classifier", r.classifier),
        ("score", None if r.score is None else f"{r.score:.3f}"),
        ("threshold", None if r.threshold is None else f"{r.threshold:.2f}"),
        ("escalate", r.escalate), ("backend", r.backend), ("where", where), ("model", r.model),
    ]))
    tree.add(_facts([
        ("tokens", None if r.input_tokens is None else f"{r.input_tokens}+{r.output_tokens or 0}"),
        ("latency", None if r.latency_s is None else f"{r.latency_s:.2f}s"),
        ("cost", money(r.cost)), ("all-frontier", money(r.frontier_cost)),
        ("cached", r.cached or None), ("fallback", r.fallback or None), ("feedback", r.feedback),
        ("parent", r.parent_id),
    ]))
    reasons = tree.add(Text("decision reasons", "bold"))
    for reason in r.reasons or ["(none recorded)"]:
        reasons.add(safe(reason, multiline=True))
    if r.output is not None:
        tree.add(_field("output", r.output))
    if r.error:
        tree.add(_field("error", r.error, "bold red"))
    steps = tree.add(Text(f"steps ({len(node.steps)})", "bold"))
    for s in node.steps:
        _step(steps, s)
    if node.children:
        label = "pipeline step requests" if r.kind == "pipeline" else "chained requests"
        chained = tree.add(Text(f"{label} ({len(node.children)})", "bold"))
        for child in node.children:
            chained.add(request_tree(child, fmt_time))
    return tree


def render_detail(node: TraceNode, fmt_time: Callable[[float], str]) -> Group:
    return Group(request_tree(node, fmt_time))
