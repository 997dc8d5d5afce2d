"""The example pipeline end to end: real SmolLM2 locally, the Anthropic cloud faked at its network boundary."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from hybrid.cli import main
from hybrid.settings import Paths
from hybrid.span_tree import load_tree
from hybrid.trace import TraceStore

EXAMPLE = Path(__file__).parent.parent / "examples" / "triage.toml"


@pytest.mark.slow
def test_the_example_pipeline_runs_local_steps_on_smollm2_and_escalates_reason(cloud):
    cloud.enqueue_text("Sorry about the double charge; we have refunded the second payment.")
    result = CliRunner().invoke(main, ["run", str(EXAMPLE), "--input", "I was charged twice this month."],
                                terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "we have refunded the second payment" in result.output
    assert "cost report: pipeline triage" in result.output and "saved $" in result.output

    store = TraceStore(Paths.resolve().trace_db)
    (run,) = store.recent(10, kind="pipeline")
    assert run.status == "done" and run.cost > 0 and run.frontier_cost > run.cost
    tree = load_tree(store, run)
    steps = {child.name: child.record for child in tree.children}
    assert set(steps) == {"classify", "summarize", "reason"}
    assert all(r.parent_id == run.id and r.status == "done" for r in steps.values())
    assert [(steps[n].backend, steps[n].is_local) for n in ("classify", "summarize", "reason")] == [
        ("smollm2", True), ("smollm2", True), ("opus", False)]
    (sent,) = cloud.messages_requests()
    prompt = sent.body["messages"][-1]["content"]
    assert steps["classify"].output.strip() in prompt and steps["summarize"].output.strip() in prompt

    text = CliRunner().invoke(main, ["logs", "--tree", run.id], terminal_width=200).output
    assert text.startswith(f"pipeline triage  done  {run.id}")
    assert "reason  done  task=reason  cloud opus (claude-opus-4-6)" in text and "★ critical path" in text
