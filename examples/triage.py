"""The triage pipeline from Python, plus a coordinator that splits work into typed subtasks.

    python examples/triage.py "I was charged twice for my subscription this month."

Runs offline on the shipped SmolLM2 (cloud steps fall back to it without ANTHROPIC_API_KEY, and say so).
"""

from __future__ import annotations

import sys
from pathlib import Path

from hybrid import HybridError
from hybrid.pipeline import Pipeline, Step
from hybrid.pipeline_file import load_pipeline
from hybrid.runtime import open_router
from hybrid.settings import Paths, load_settings

HERE = Path(__file__).parent

COORDINATOR = Pipeline("coordinator", (
    Step("plan", task="classify", route="cloud", subtasks=True, max_tokens=96, prompt=(
        'Split the ticket into two subtasks. Answer only with JSON like '
        '[{{"task": "summarize", "prompt": "Summarize: ..."}}, {{"task": "write", "prompt": "Write a reply to: ..."}}]'
        "\n\nTicket: {input}")),
    Step("reply", task="write", max_tokens=64, prompt="Using these notes:\n{steps.plan.results}\n\nWrite the reply."),
))


def main() -> None:
    ticket = sys.argv[1] if len(sys.argv) > 1 else "I was charged twice for my subscription this month."
    paths = Paths.resolve()
    settings = load_settings(paths)
    router = open_router(settings, paths)
    try:
        for pipeline in (load_pipeline(HERE / "triage.toml", tasks=settings.routing.tasks), COORDINATOR):
            result = pipeline.run(router, ticket)
            print(f"== {pipeline.name}: {'ok' if result.ok else 'failed'} ==")
            print(result.output if result.ok else "")
            print(result.report.table())
            print(f"critical path: {' -> '.join(result.critical_path)}; tree: hybrid logs --tree {result.run_id}\n")
            try:
                result.raise_for_failure()
            except HybridError as e:  # a 135M model often cannot write the JSON a coordinator needs: say which step
                print(f"error: {e}\n")
    finally:
        router.close()


if __name__ == "__main__":
    main()
