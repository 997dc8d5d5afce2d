"""One trace step in one line of words: its facts (backend, time, tokens, cost) and what it output.

``hybrid logs`` prints a request's steps with these, and ``hybrid logs --tree`` puts the same lines under the
request's span, so the two never describe a step differently.
"""

from __future__ import annotations

import json
from typing import Any

from hybrid.display import clean
from hybrid.trace import StepRecord


def step_facts(step: StepRecord) -> str:
    """``smollm2 1832ms 69+64 tok $0.000000``: whichever of these the step has."""
    parts = []
    if step.backend:
        parts.append(step.backend)
    if step.duration_s is not None:
        parts.append(f"{step.duration_s * 1000:.0f}ms")
    if step.input_tokens is not None:
        parts.append(f"{step.input_tokens}+{step.output_tokens} tok")
    if step.cost is not None:
        parts.append(f"${step.cost:.6f}")
    return " ".join(parts)


def step_summary(kind: str, output: Any) -> str:
    """What a step of ``kind`` output, in a line: the route and why, the score, the text, the draft's verdict."""
    if not isinstance(output, dict):
        return ""
    if kind == "route":
        return f"-> {output.get('target')}: " + "; ".join(output.get("reasons", []))
    if kind == "classify":
        return f"score {output.get('score', 0):.3f} ({output.get('classifier')})"
    if kind in ("backend_call", "cache"):
        return quoted(str(output.get("text", "")))
    if kind == "fallback":
        return f"{output.get('from')} -> {output.get('to')}: {output.get('why')}"
    if kind == "draft":
        from hybrid.draft_step import read_draft_step

        found = read_draft_step(output)
        fired = [c.reason or c.name for c in found.fired] if found else []
        drafts = len(output.get("drafts", [])) or 1
        agreement = output.get("agreement")
        return (f"{drafts} draft(s), score {output.get('score', 0):.3f}, escalate={output.get('escalate')}"
                + (f", agreement {agreement:.2f}" if agreement is not None else "")
                + (f"; {'; '.join(fired)}" if fired else ""))
    return json.dumps(output, ensure_ascii=False)


def quoted(text: str) -> str:
    """``text`` in quotes on one line: a newline as ``\\n``, every other control character as its picture (ESC as
    ``␛``), so an answer cannot drive the terminal it is printed on."""
    return "'" + clean(text.replace("\r\n", "\n").replace("\n", "\\n")) + "'"


def step_line(step: StepRecord) -> tuple[str, str]:
    """``(facts, detail)`` of a step: the error when it failed, else its summary."""
    return step_facts(step), step.error or step_summary(step.kind, step.output)
