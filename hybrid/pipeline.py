"""Pipelines: AI calls as a graph. Each step is routed on its own, traced as a span, and costed.

A step has a name, a task type, a prompt template and optional routing overrides. Templates read the
pipeline's input and earlier steps' outputs, and nothing else::

    {input}                   the text the pipeline was run on
    {steps.NAME.output}       step NAME's answer
    {steps.NAME.results}      the gathered answers of NAME's subtasks (only when NAME has subtasks = true)
    {{ and }}                 literal braces

A step runs once every step it reads (and every step in its ``after``) is done; steps that do not depend on
each other run at the same time, in threads. A step with ``subtasks = true`` is a coordinator: its answer
must be a JSON list of ``{"task": ..., "prompt": ...}``; each subtask is routed and run, and their answers
are gathered into ``{steps.NAME.results}``. A failed step stops the steps that need it (they are traced as
cancelled); every other step still runs.

In the trace a run is a root span (``kind = 'pipeline'``), each step's request hangs under it, and a
coordinator's subtasks under their step.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import re
import string
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from hybrid.errors import HybridError, PipelineError, PipelineFailed
from hybrid.pipeline_report import CostReport, cost_report
from hybrid.trace import new_id
from hybrid.types import Completion, Request

NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*\Z")
ROUTES = ("auto", "local", "cloud")
STEP_FIELDS = ("output", "results")


@dataclass(frozen=True)
class Step:
    """One routed call. ``route``/``threshold`` override the task's routing rule for this step only."""

    name: str
    prompt: str
    task: str = "chat"
    system: str | None = None
    after: tuple[str, ...] = ()
    route: str | None = None
    threshold: float | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    subtasks: bool = False
    max_subtasks: int = 8

    def __post_init__(self) -> None:
        object.__setattr__(self, "after", tuple(self.after))
        where = f"step {self.name!r}"
        if not isinstance(self.name, str) or not NAME.match(self.name):
            raise PipelineError(f"step name {self.name!r} is not valid; use letters, digits, '_' or '-', "
                                "starting with a letter (e.g. name = \"summarize\")")
        if self.route is not None and self.route not in ROUTES:
            raise PipelineError(f"{where}: route {self.route!r} is not one of {', '.join(ROUTES)}")
        if self.threshold is not None and not 0 <= self.threshold <= 1:
            raise PipelineError(f"{where}: threshold must be between 0 and 1, got {self.threshold}")
        if self.max_tokens is not None and self.max_tokens < 1:
            raise PipelineError(f"{where}: max_tokens must be at least 1, got {self.max_tokens}")
        if self.temperature is not None and not 0 <= self.temperature <= 2:
            raise PipelineError(f"{where}: temperature must be between 0 and 2, got {self.temperature}")
        if self.max_subtasks < 1:
            raise PipelineError(f"{where}: max_subtasks must be at least 1, got {self.max_subtasks}")
        fields_used(self)  # a template that cannot be parsed fails here, before anything runs

    @property
    def reads(self) -> tuple[tuple[str, str], ...]:
        """(step, field) pairs the template reads."""
        return tuple((name, f) for kind, name, f in fields_used(self) if kind == "steps")

    @property
    def needs(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys([*(name for name, _ in self.reads), *self.after]))


def fields_used(step: Step) -> list[tuple[str, str, str]]:
    """The template's fields as (kind, step, field): ('input', '', '') or ('steps', NAME, FIELD)."""
    where = f"step {step.name!r}"
    try:
        parsed = list(string.Formatter().parse(step.prompt))
    except ValueError as e:
        raise PipelineError(f"{where}: its prompt is not a valid template ({e}); write literal braces as {{{{ and }}}}"
                            ) from None
    used = []
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        shown = "{" + name + "}"
        if spec or conversion:
            raise PipelineError(f"{where}: {{{name}{'!' + conversion if conversion else ''}{':' + spec if spec else ''}}}"
                                f" uses a conversion or format spec, which templates do not allow; write {shown}")
        parts = name.split(".")
        if parts == ["input"]:
            used.append(("input", "", ""))
        elif len(parts) == 3 and parts[0] == "steps" and parts[2] in STEP_FIELDS:
            used.append(("steps", parts[1], parts[2]))
        else:
            raise PipelineError(f"{where}: its prompt reads {shown}, which is not something a template can read; "
                                "use {input} or {steps.NAME.output} (and {steps.NAME.results} for a step with "
                                "subtasks); write literal braces as {{ and }}")
    return used


@dataclass(frozen=True)
class Pipeline:
    """A DAG of steps, checked when built: names, references, cycles. ``check_tasks`` checks task types."""

    name: str
    steps: tuple[Step, ...]
    max_tokens: int = 256
    concurrency: int = 4

    def __post_init__(self) -> None:
        object.__setattr__(self, "steps", tuple(self.steps))
        if not self.steps:
            raise PipelineError(f"pipeline {self.name!r} has no steps; add at least one [[steps]] table")
        if self.concurrency < 1 or self.max_tokens < 1:
            raise PipelineError(f"pipeline {self.name!r}: concurrency and max_tokens must be at least 1")
        by_name: dict[str, Step] = {}
        for step in self.steps:
            if step.name in by_name:
                raise PipelineError(f"two steps are named {step.name!r}; give each step its own name")
            by_name[step.name] = step
        for step in self.steps:
            for other, used in step.reads:
                if other not in by_name:
                    raise PipelineError(
                        f"step {step.name!r} reads {{steps.{other}.{used}}}, but there is no step {other!r}; "
                        f"the steps are: {', '.join(by_name)}. Fix the name in its prompt."
                    )
                if used == "results" and not by_name[other].subtasks:
                    raise PipelineError(
                        f"step {step.name!r} reads {{steps.{other}.results}}, but step {other!r} has no subtasks; "
                        f"read {{steps.{other}.output}}, or set subtasks = true on {other!r}"
                    )
            for other in step.after:
                if other not in by_name:
                    raise PipelineError(f"step {step.name!r} runs after {other!r}, but there is no step {other!r}; "
                                        f"the steps are: {', '.join(by_name)}")
        cycle = find_cycle({s.name: s.needs for s in self.steps})
        if cycle:
            raise PipelineError(f"steps {' -> '.join(cycle)} form a cycle; a step can only read steps that come "
                                "before it. Remove one of these references.")

    def step(self, name: str) -> Step:
        return next(s for s in self.steps if s.name == name)

    def check_tasks(self, known: Iterable[str]) -> None:
        known = sorted(known)
        for step in self.steps:
            if step.task not in known:
                raise PipelineError(
                    f"step {step.name!r} has task {step.task!r}, which is not a task type; use one of: "
                    f"{', '.join(known)} (or add [routing.tasks.{step.task}] to the config)"
                )

    def graph(self) -> dict[str, list[str]]:
        return {s.name: list(s.needs) for s in self.steps}

    def run(self, router: Any, input: str) -> PipelineResult:
        """Run every step through ``router`` (a ``hybrid.router.Router``); the result holds every step's outcome
        and the cost report. Raises PipelineError for a bad pipeline, before anything runs."""
        self.check_tasks(router.policy.routing.tasks)
        return _Run(self, router, input).execute()


def find_cycle(needs: Mapping[str, Iterable[str]]) -> list[str]:
    """A cycle as a list of names (first name repeated at the end), or [] if the graph is acyclic."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        stack.append(node)
        for nxt in needs.get(node, ()):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt):], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return []

    for node in needs:
        if node not in state and (found := visit(node)):
            return found
    return []


@dataclass(frozen=True)
class SubtaskResult:
    task: str
    prompt: str
    completion: Completion


@dataclass(frozen=True)
class StepResult:
    """What one step did. ``status`` is done, failed or cancelled (a step it needs failed)."""

    name: str
    task: str
    status: str
    prompt: str | None = None
    output: str | None = None
    error: str | None = None
    completion: Completion | None = None
    subtasks: tuple[SubtaskResult, ...] = ()
    started: float = 0.0
    finished: float = 0.0

    @property
    def results(self) -> str:
        return "\n\n".join(f"[{i}] {s.task}: {s.prompt}\n{s.completion.text}" for i, s in enumerate(self.subtasks, 1))


@dataclass(frozen=True)
class PipelineResult:
    run_id: str
    pipeline: str
    steps: dict[str, StepResult]
    report: CostReport
    critical_path: tuple[str, ...]
    latency_s: float
    final: tuple[str, ...] = field(default=())
    """The steps nothing else reads: their outputs are the pipeline's answer."""

    @property
    def ok(self) -> bool:
        return all(s.status == "done" for s in self.steps.values())

    @property
    def outputs(self) -> dict[str, str]:
        return {name: s.output for name, s in self.steps.items() if s.output is not None}

    @property
    def output(self) -> str:
        return "\n\n".join(self.steps[name].output or "" for name in self.final)

    def raise_for_failure(self) -> None:
        failed = [s for s in self.steps.values() if s.status == "failed"]
        if failed:
            raise PipelineFailed(self.run_id, failed[0].name, describe_failure(failed[0]),
                                 [s.name for s in self.steps.values() if s.status == "cancelled"])


def describe_failure(step: StepResult) -> str:
    model = f" on {step.completion.backend} ({step.completion.model})" if step.completion else ""
    return f"step {step.name!r} (task {step.task}){model} failed: {step.error}"


def render(template: str, input: str, done: Mapping[str, StepResult]) -> str:
    """Fill a checked template: only {input} and {steps.NAME.output|results}; no attribute access, no eval."""
    out = []
    for literal, name, _, _ in string.Formatter().parse(template):
        out.append(literal)
        if name is None:
            continue
        if name == "input":
            out.append(input)
        else:
            _, step, what = name.split(".")
            out.append(done[step].results if what == "results" else done[step].output or "")
    return "".join(out)


def parse_subtasks(text: str, known_tasks: Iterable[str], limit: int) -> list[tuple[str, str]]:
    """The (task, prompt) list a coordinator returned, or a PipelineError naming what is wrong with it."""
    start, end = text.find("["), text.rfind("]")
    if start < 0 or end < start:
        raise PipelineError("no JSON list in its answer")
    try:
        items = json.loads(text[start : end + 1])
    except json.JSONDecodeError as e:
        raise PipelineError(f"its JSON list does not parse ({e})") from None
    if not isinstance(items, list) or not items:
        raise PipelineError("its JSON list is empty")
    if len(items) > limit:
        raise PipelineError(f"it asked for {len(items)} subtasks, more than max_subtasks = {limit}")
    known = set(known_tasks)
    subtasks = []
    for i, item in enumerate(items, 1):
        if not (isinstance(item, dict) and isinstance(item.get("task"), str) and isinstance(item.get("prompt"), str)):
            raise PipelineError(f"subtask {i} is not an object with string fields task and prompt")
        if item["task"] not in known:
            raise PipelineError(f"subtask {i} has task {item['task']!r}, not one of {', '.join(sorted(known))}")
        if not item["prompt"].strip():
            raise PipelineError(f"subtask {i} has an empty prompt")
        subtasks.append((item["task"], item["prompt"]))
    return subtasks


def router_for(router: Any, step: Step) -> Any:
    """The same router with this step's routing overrides applied to its task's rule (no overrides: itself)."""
    overrides = {k: v for k, v in (("route", step.route), ("threshold", step.threshold)) if v is not None}
    if not overrides:
        return router
    routing = router.policy.routing
    rule = routing.tasks[step.task].model_copy(update=overrides)
    step_router = copy.copy(router)
    step_router.policy = dataclasses.replace(
        router.policy, routing=routing.model_copy(update={"tasks": {**routing.tasks, step.task: rule}})
    )
    return step_router


class _Run:
    """One execution of a pipeline: schedules ready steps on a thread pool and records each as a span."""

    def __init__(self, pipeline: Pipeline, router: Any, input: str) -> None:
        self.pipeline, self.router, self.input = pipeline, router, input
        self.trace = router.trace
        self.run_id = new_id()
        self.done: dict[str, StepResult] = {}

    def execute(self) -> PipelineResult:
        p = self.pipeline
        t0 = time.perf_counter()
        self.trace.start_request(
            self.run_id, task="pipeline", messages=[{"role": "user", "content": self.input}],
            params={"graph": p.graph(), "concurrency": p.concurrency}, metadata={"pipeline": p.name},
            kind="pipeline",
        )
        with ThreadPoolExecutor(max_workers=p.concurrency, thread_name_prefix=f"pipeline-{p.name}") as pool:
            running: dict[Future, str] = {}
            while len(self.done) < len(p.steps):
                for step in p.steps:
                    if step.name in self.done or step.name in running.values():
                        continue
                    blocked = [n for n in step.needs if n in self.done and self.done[n].status != "done"]
                    if blocked:
                        self.done[step.name] = self._cancel(step, blocked[0])
                    elif all(n in self.done for n in step.needs):
                        running[pool.submit(self._step, step)] = step.name
                if not running:
                    continue
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    result = future.result()
                    self.done[result.name] = result
                    del running[future]
        return self._finish(time.perf_counter() - t0)

    def _finish(self, latency: float) -> PipelineResult:
        p = self.pipeline
        steps = {s.name: self.done[s.name] for s in p.steps}
        reference = self.router.settings.routing.reference
        report = cost_report(p.name, steps.values(), self.router.backends, reference)
        read = {n for s in p.steps for n in s.needs}
        final = tuple(s.name for s in p.steps if s.name not in read)
        from hybrid.span_tree import critical_path

        path = tuple(critical_path({n: (r.started, r.finished, p.step(n).needs) for n, r in steps.items()
                                    if r.status != "cancelled"}))
        result = PipelineResult(self.run_id, p.name, steps, report, path, latency, final)
        failed = [s for s in steps.values() if s.status == "failed"]
        self.trace.update_request(
            self.run_id,
            status="failed" if failed else "done",
            error="; ".join(describe_failure(s) for s in failed) or None,
            output=result.output if not failed else None,
            input_tokens=report.input_tokens, output_tokens=report.output_tokens,
            cost=report.cost, frontier_cost=report.frontier_cost, latency_s=latency,
            reasons=[f"critical path: {' -> '.join(path)}", report.summary(), report.quality()],
        )
        return result

    def _metadata(self, name: str, **extra: str) -> dict[str, str]:
        return {"pipeline": self.pipeline.name, "step": name, **extra}

    def _cancel(self, step: Step, because: str) -> StepResult:
        error = f"not run: step {because!r}, which it needs, did not finish"
        request_id = new_id()
        self.trace.start_request(request_id, task=step.task, messages=[], params={}, parent_id=self.run_id,
                                 metadata=self._metadata(step.name))
        self.trace.update_request(request_id, status="cancelled", error=error)
        now = time.perf_counter()
        return StepResult(step.name, step.task, "cancelled", error=error, started=now, finished=now)

    def _request(self, step: Step, prompt: str, parent: str, metadata: dict[str, str], task: str | None = None):
        return Request.from_prompt(
            prompt, system=step.system, task=task or step.task, parent_id=parent, metadata=metadata,
            max_tokens=step.max_tokens or self.pipeline.max_tokens,
            temperature=0.0 if step.temperature is None else step.temperature,
        )

    def _step(self, step: Step) -> StepResult:
        started = time.perf_counter()
        prompt = render(step.prompt, self.input, self.done)
        request = self._request(step, prompt, self.run_id, self._metadata(step.name))
        result = {"name": step.name, "task": step.task, "prompt": prompt, "started": started}
        try:
            completion = router_for(self.router, step).complete(request)
        except HybridError as e:
            return StepResult(status="failed", error=str(e), finished=time.perf_counter(), **result)
        result.update(completion=completion, output=completion.text)
        if not step.subtasks:
            return StepResult(status="done", finished=time.perf_counter(), **result)
        try:
            planned = parse_subtasks(completion.text, self.router.policy.routing.tasks, step.max_subtasks)
        except PipelineError as e:
            model = (f" (it already ran on {completion.backend}, route = \"cloud\")" if step.route == "cloud"
                     else ', or give it a stronger model (route = "cloud")')
            error = (f"it was asked for subtasks but {e}. Make its prompt ask for a JSON list like "
                     f'[{{"task": "summarize", "prompt": "..."}}]{model}')
            self.trace.add_step(completion.request_id, "error", error=error, output={"type": "PipelineError"})
            self.trace.update_request(completion.request_id, status="failed", error=error)
            return StepResult(status="failed", error=error, finished=time.perf_counter(), **result)
        subtasks, errors = self._subtasks(step, completion.request_id, planned)
        if errors:
            return StepResult(status="failed", error="; ".join(errors), subtasks=subtasks,
                              finished=time.perf_counter(), **result)
        return StepResult(status="done", subtasks=subtasks, finished=time.perf_counter(), **result)

    def _subtasks(self, step: Step, parent: str, planned: list[tuple[str, str]]):
        def one(i: int, task: str, prompt: str) -> SubtaskResult | str:
            request = self._request(step, prompt, parent, self._metadata(f"{step.name}[{i}]", subtask_of=step.name),
                                    task=task)
            try:
                return SubtaskResult(task, prompt, self.router.complete(request))
            except HybridError as e:
                return f"subtask {i} ({task}) failed: {e}"

        workers = min(len(planned), self.pipeline.concurrency)
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"{step.name}-subtasks") as pool:
            outcomes = list(pool.map(lambda item: one(item[0], *item[1]), enumerate(planned, 1)))
        return (tuple(o for o in outcomes if isinstance(o, SubtaskResult)),
                [o for o in outcomes if isinstance(o, str)])
