"""Pipeline files, in TOML or YAML. Checked completely before anything runs::

    name = "triage"
    max_tokens = 128            # default per step
    concurrency = 4             # steps running at once

    [[steps]]
    name = "classify"
    task = "classify"
    prompt = "Classify this ticket as billing, bug or question: {input}"

    [[steps]]
    name = "reason"
    task = "reason"
    route = "auto"              # per-step override of the task's rule: auto | local | cloud
    threshold = 0.6             # per-step difficulty threshold
    prompt = "Category: {steps.classify.output}\\n\\nDraft a reply to: {input}"

YAML takes the same keys (``steps:`` as a list of mappings).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr, ValidationError

from hybrid.errors import PipelineError
from hybrid.pipeline import Pipeline, Step


class StepSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: StrictStr
    prompt: StrictStr
    task: StrictStr = "chat"
    system: StrictStr | None = None
    after: list[StrictStr] = Field(default_factory=list)
    route: Literal["auto", "local", "cloud"] | None = None
    threshold: StrictFloat | StrictInt | None = None
    max_tokens: StrictInt | None = None
    temperature: StrictFloat | StrictInt | None = None
    subtasks: StrictBool = False
    max_subtasks: StrictInt = 8


class PipelineSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: StrictStr
    description: StrictStr = ""
    max_tokens: StrictInt = 256
    concurrency: StrictInt = 4
    steps: list[StepSpec]


def _describe(error: dict[str, Any], data: dict[str, Any]) -> str:
    loc = list(error["loc"])
    where = ".".join(str(p) for p in loc)
    if len(loc) >= 2 and loc[0] == "steps" and isinstance(loc[1], int):
        steps = data.get("steps") or []
        step = steps[loc[1]] if loc[1] < len(steps) and isinstance(steps[loc[1]], dict) else {}
        label = f"step {step.get('name')!r}" if isinstance(step.get("name"), str) else f"step #{loc[1] + 1}"
        where = label + (f", key {'.'.join(str(p) for p in loc[2:])}" if loc[2:] else "")
    if error["type"] == "extra_forbidden":
        return f"{where}: unknown key; the keys are: " + (
            ", ".join(StepSpec.model_fields) if "step" in where else ", ".join(PipelineSpec.model_fields))
    if error["type"] == "missing":
        return f"{where}: missing; add it"
    return f"{where}: {error['msg']} (got {error.get('input')!r})"


def _yaml_error(path: Path, e: Exception) -> str:
    """PyYAML's several-line error as one line: the file, where, what, and the fix."""
    mark, problem = getattr(e, "problem_mark", None), getattr(e, "problem", None)
    if mark is None or not problem:
        return f"{path} is not valid YAML ({' '.join(str(e).split())}); fix the file"
    context = getattr(e, "context", None)
    return (f"{path} is not valid YAML at line {mark.line + 1}, column {mark.column + 1}: {problem}"
            f"{f' ({context})' if context else ''}; fix that line (indent with spaces, close every [ and {{)")


def _read(path: Path) -> dict[str, Any]:
    suffix = path.suffix.lower()
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise PipelineError(f"cannot read the pipeline file {path} ({e.strerror}); check the path") from e
    if suffix == ".toml":
        try:
            return tomllib.loads(raw.decode())
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise PipelineError(f"{path} is not valid TOML ({e}); fix the line it names") from e
    if suffix in (".yaml", ".yml"):
        import yaml

        try:
            data = yaml.safe_load(raw)
        except yaml.YAMLError as e:
            raise PipelineError(_yaml_error(path, e)) from e
        if not isinstance(data, dict):
            raise PipelineError(f"{path} must hold a mapping with name and steps, not {type(data).__name__}")
        return data
    raise PipelineError(f"{path}: a pipeline file must end in .toml, .yaml or .yml")


def parse_pipeline(data: dict[str, Any], *, source: str = "pipeline") -> Pipeline:
    try:
        spec = PipelineSpec.model_validate(data)
    except ValidationError as e:
        problems = "\n  ".join(_describe(err, data) for err in e.errors())
        raise PipelineError(f"{source} is not a valid pipeline:\n  {problems}") from None
    try:
        return Pipeline(
            spec.name,
            tuple(Step(**{**s.model_dump(), "after": tuple(s.after)}) for s in spec.steps),
            max_tokens=spec.max_tokens, concurrency=spec.concurrency,
        )
    except PipelineError as e:
        raise PipelineError(f"{source}: {e}") from None


def load_pipeline(path: str | Path, *, tasks: Any = None) -> Pipeline:
    """Read and check a pipeline file; with ``tasks`` (the configured task types) check those too."""
    path = Path(path)
    pipeline = parse_pipeline(_read(path), source=str(path))
    if tasks is not None:
        try:
            pipeline.check_tasks(tasks)
        except PipelineError as e:
            raise PipelineError(f"{path}: {e}") from None
    return pipeline
