"""``hybrid run PIPELINE``: run a pipeline file, print its answer and its cost report."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import click

from hybrid.errors import HybridError


@click.command("run")
@click.argument("pipeline_file", type=click.Path(path_type=Path))
@click.option("--input", "text", default=None, help="The text the pipeline runs on ({input} in its templates).")
@click.option("--input-file", type=click.Path(path_type=Path), default=None, help="Read the input from a file.")
@click.option("--json", "as_json", is_flag=True, help="Print every step's outcome and the cost report as JSON.")
@click.pass_obj
def run(obj, pipeline_file: Path, text: str | None, input_file: Path | None, as_json: bool) -> None:
    """Run PIPELINE_FILE (TOML or YAML): each step routed on its own, traced as a tree, and costed."""
    from hybrid.pipeline_file import load_pipeline

    if (text is None) == (input_file is None):
        raise HybridError("give the pipeline's input with exactly one of --input TEXT or --input-file PATH")
    if input_file is not None:
        try:
            text = input_file.read_text()
        except OSError as e:
            raise HybridError(f"cannot read --input-file {input_file} ({e.strerror}); check the path") from e
    pipeline = load_pipeline(pipeline_file, tasks=obj.settings.routing.tasks)
    router = obj.router()
    try:
        result = pipeline.run(router, text)
    finally:
        router.close()
    if as_json:
        click.echo(json.dumps({
            "run_id": result.run_id, "ok": result.ok, "output": result.output,
            "critical_path": list(result.critical_path),
            "steps": {n: {"status": s.status, "output": s.output, "error": s.error,
                          "backend": s.completion.backend if s.completion else None} for n, s in result.steps.items()},
            "report": [asdict(line) for line in result.report.lines],
            "cost": result.report.cost, "frontier_cost": result.report.frontier_cost,
            "saving": result.report.saving,
        }, indent=2, ensure_ascii=False))
    else:
        for name in result.final:
            step = result.steps[name]
            if len(result.final) > 1:
                click.echo(f"== {name} ==")
            click.echo(step.output if step.output is not None else f"({step.status}: {step.error})")
        click.echo(file=None)
        click.echo(result.report.table(), err=True)
        click.echo(f"critical path: {' -> '.join(result.critical_path) or '-'} · {result.latency_s:.2f}s · "
                   f"trace: {_trace_hint(obj, result.run_id)}", err=True)
    result.raise_for_failure()


def _trace_hint(obj, run_id: str) -> str:
    """Where the run's tree is, or why there is none (the router then wrote to no trace)."""
    if obj.no_log:
        return "not logged (--no-log)"
    if not obj.settings.trace.enabled:
        return "not logged (trace.enabled = false)"
    return f"hybrid logs --tree {run_id}"


COMMANDS = (run,)
