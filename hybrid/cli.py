"""The ``hybrid`` command line: ask, doctor, logs, demo, feedback (and the learning commands)."""

from __future__ import annotations

import dataclasses
import gc
import json
import sys
from collections.abc import Iterator
from dataclasses import asdict
from datetime import datetime
from typing import TYPE_CHECKING

import click

from hybrid.display import clean, one_line, score_and_threshold
from hybrid.errors import HybridError
from hybrid.events import Done, Event, Failed, TextDelta, describe
from hybrid.settings import Paths, Settings, load_settings
from hybrid.trace import RequestRecord, TraceStore
from hybrid.types import Completion, Message, Request

if TYPE_CHECKING:
    from rich.console import Console

#: Terminal columns from which `hybrid demo` and `hybrid doctor` show every column of their tables side by side;
#: narrower, they stack the short facts so no number, name or model breaks mid-word.
WIDE_TERMINAL = 120


class Context:
    """What every command needs: resolved paths and settings, loaded once."""

    def __init__(self, no_log: bool) -> None:
        self.paths = Paths.resolve()
        self.no_log = no_log
        self._settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(self.paths)
        return self._settings

    def router(self, *, cache: bool = True):
        from hybrid.runtime import open_router

        return open_router(self.settings, self.paths, log=not self.no_log, cache=cache)

    def trace(self) -> TraceStore:
        from hybrid.runtime import open_trace

        return open_trace(self.settings, self.paths)


class HybridGroup(click.Group):
    """Turns HybridError into one clear line on stderr and exit status 1.

    Commands from other packages (the TUI's ``hybrid tui``) join through the
    ``hybrid.commands`` entry-point group, looked up only when asked for.
    """

    plugin_group = "hybrid.commands"

    def _plugins(self) -> dict:
        from importlib.metadata import entry_points

        return {ep.name: ep for ep in entry_points(group=self.plugin_group)}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self._plugins()})

    def get_command(self, ctx: click.Context, name: str):
        command = super().get_command(ctx, name)
        if command is not None:
            return command
        ep = self._plugins().get(name)
        if ep is None:
            return None
        try:
            return ep.load()
        except ImportError as e:
            missing = e.name or str(e)

            @click.command(name, help=f"Unavailable here: {missing} is not installed.")
            def unavailable() -> None:
                raise HybridError(f"`hybrid {name}` needs {missing}; install it with `pip install -e '.[tui]'`")

            return unavailable

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except HybridError as e:
            click.echo(f"error: {e}", err=True)
            ctx.exit(1)


@click.group(cls=HybridGroup)
@click.option("--no-log", is_flag=True, help="Do not write this command's requests to the trace store.")
@click.pass_context
def main(ctx: click.Context, no_log: bool) -> None:
    """hybrid: route each LLM request to the cheapest model that can do it, and trace every step."""
    ctx.obj = Context(no_log)


@main.command()
@click.argument("prompt")
@click.option("--task", default="chat", show_default=True, help="Task type; routing rules are per task.")
@click.option("--system", default=None, help="System prompt.")
@click.option("--max-tokens", default=256, show_default=True, type=int)
@click.option("--temperature", default=0.0, show_default=True, type=float)
@click.option("--parent", default=None, help="Id of the request whose output this step consumes.")
@click.option("--no-cache", is_flag=True, help="Skip the response cache.")
@click.option("--json", "as_json", is_flag=True, help="Print the completion as JSON instead of streaming.")
@click.option("--local-only", is_flag=True, help="Never send this request to a cloud backend.")
@click.option("--conversation", default=None, help="Conversation id: once it escalated, later turns stay there.")
@click.pass_obj
def ask(obj: Context, prompt, task, system, max_tokens, temperature, parent, no_cache, as_json, local_only,
        conversation) -> None:
    """Answer PROMPT ('-' reads stdin) on the backend the router picks; print one line about the decision."""
    if prompt == "-":
        prompt = sys.stdin.read()
    metadata = {"local_only": "true"} if local_only else {}
    if conversation:
        metadata["conversation_id"] = conversation
    try:
        router = obj.router(cache=not no_cache)
    except HybridError as e:
        _json_error(e, as_json)
        raise
    try:
        if parent is not None and not obj.no_log:
            parent = _parent_id(router.trace, parent)
        request = Request.from_prompt(
            prompt, system=system, task=task, max_tokens=max_tokens, temperature=temperature, parent_id=parent,
            metadata=metadata,
        )
        if conversation and not obj.no_log:
            request = dataclasses.replace(request, messages=_with_history(router.trace, conversation,
                                                                          request.messages))
        if as_json:
            completion = router.complete(request)
            click.echo(json.dumps(asdict(completion) | {"is_local": router.backends[completion.backend].is_local,
                                                        "logged": not obj.no_log}, indent=2))
            return
        completion = _stream_answer(router.run(request))
        is_local = router.backends[completion.backend].is_local
    except HybridError as e:
        _json_error(e, as_json)
        raise
    finally:
        router.close()
    d = completion.decision
    where = "local" if is_local else "cloud"
    score, threshold = score_and_threshold(d.score, d.threshold)
    click.echo(
        f"→ {where} {completion.backend} ({completion.model}) · score {score} / threshold {threshold} · "
        f"{d.explain()} · {completion.usage.input_tokens}+{completion.usage.output_tokens} tokens · "
        f"{completion.latency_s:.2f}s · ${completion.cost:.6f} · "
        + (f"id {completion.request_id}" if not obj.no_log else "not logged (--no-log)"),
        err=True,
    )


def _with_history(trace: TraceStore, conversation: str, messages: tuple[Message, ...]) -> tuple[Message, ...]:
    """``messages`` after the conversation's turns so far, as its last answered request had them plus that
    request's answer, so the model sees what was said (a system prompt given now replaces the earlier one)."""
    answered = [r for r in trace.settled_in_conversation(conversation) if r.status == "done"]
    if not answered:
        return messages
    last = answered[-1]
    earlier = [Message(m["role"], m["content"]) for m in last.messages]
    earlier.append(Message("assistant", last.output or ""))
    if any(m.role == "system" for m in messages):
        earlier = [m for m in earlier if m.role != "system"]
    system = [m for m in messages if m.role == "system"]
    return (*system, *earlier, *(m for m in messages if m.role != "system"))


def _parent_id(trace: TraceStore, parent: str) -> str:
    """The full id of the logged request ``--parent`` names (an id or a unique prefix of one)."""
    record = trace.find_request(parent)
    if record is None:
        raise HybridError(f"--parent {parent!r} names no logged request; fix: pass an id from `hybrid logs` "
                          "(the request whose output this one consumes)")
    return record.id


def _json_error(error: HybridError, as_json: bool) -> None:
    """With ``--json``, the error as a JSON object on stdout too, for a script that reads stdout."""
    if as_json:
        click.echo(json.dumps({"error": str(error), "type": type(error).__name__}))


def _stream_answer(events: Iterator[Event]) -> Completion:
    """Answer text to stdout as it becomes final; what happens on the way, in short notes on stderr.

    On a terminal, control characters in the answer print as pictures (ESC as ␛; newlines and tabs kept), so a
    model's output cannot drive the terminal; piped, the text is written as it came.
    """
    terminal = sys.stdout.isatty()
    for event in events:
        note = describe(event)
        if note:
            click.secho(f"· {note}", err=True, dim=True)
        elif isinstance(event, TextDelta):
            click.echo(clean(event.text, multiline=True) if terminal else event.text, nl=False, color=not terminal)
        elif isinstance(event, Done):
            click.echo()
            return event.completion
        elif isinstance(event, Failed):
            if event.text_sent:
                click.echo()
                raise HybridError(f"the answer above stopped part-way and is incomplete: {event.error}")
            raise event.error
    raise HybridError("the router's event stream ended without an answer or an error")


@main.command()
@click.option("--quick", is_flag=True, help="Skip checks that load models or contact servers.")
@click.pass_obj
def doctor(obj: Context, quick: bool) -> None:
    """Check each configured backend: usable or not, and why."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from hybrid.backends import build_backends
    from hybrid.runtime import load_classifier, trace_path

    console = Console()
    settings = obj.settings
    console.print(f"config file : {escape(str(obj.paths.config_file))}"
                  f"{'' if obj.paths.config_file.exists() else ' (not present; defaults in use)'}")
    console.print(f"trace store : {escape(str(trace_path(settings, obj.paths)))}")
    console.print(f"cache       : {escape(str(obj.paths.response_cache_dir))}")
    _print_classifier(console, load_classifier(settings, obj.paths), settings)
    if settings.otel.enabled:
        from hybrid.otel import doctor_line

        console.print(escape(doctor_line(settings)))
    # Under 120 columns (80 is common, and the default when piped) a backend's type, model, place and role go
    # under its name, so the detail (the reason and the fix) keeps a readable width.
    narrow = console.width < WIDE_TERMINAL
    columns = ("backend", "status", "detail") if narrow else ("name", "type", "model", "where", "role", "status",
                                                              "detail")
    table = Table(title="backends", show_lines=narrow)
    for col in columns:
        table.add_column(col, overflow="fold", no_wrap=col in ("type", "where", "status"),
                         ratio=3 if col == "detail" else 2 if col == "backend" else None)
    roles = {n: f"local #{i + 1}" for i, n in enumerate(settings.routing.local)}
    roles.setdefault(settings.routing.cloud, "cloud (default)")
    ok_any = False
    for name, backend in build_backends(settings).items():
        health = backend.health(deep=not quick)
        ok_any |= health.ok
        facts = (settings.backends[name].type, escape(backend.model), "local" if backend.is_local else "cloud",
                 roles.get(name, ""))
        status = "[green]ok[/]" if health.ok else "[red]unavailable[/]"
        if narrow:
            table.add_row(f"[bold]{name}[/]\n[dim]{' · '.join(f for f in facts if f)}[/]", status,
                          escape(health.detail))
        else:
            table.add_row(name, *facts, status, escape(health.detail))
    console.print(table)
    if not ok_any:
        raise HybridError("no backend is usable; fix one of the rows above")


def _print_classifier(console: Console, classifier, settings: Settings) -> None:
    """Load the classifier and score one prompt with it, so a broken one shows here and not on a request."""
    import time

    from rich.markup import escape

    started = time.perf_counter()
    score = classifier.score(Request.from_prompt("Summarize: the meeting moved from Tuesday to Thursday."))
    took_ms = (time.perf_counter() - started) * 1000
    configured = "" if settings.routing.threshold is None else f", config {settings.routing.threshold:.2f}"
    if classifier.unavailable:
        console.print(f"classifier  : [red]unavailable[/], routing by rule: {escape(classifier.reason)}")
        return
    console.print(f"classifier  : {escape(classifier.version)} (threshold {classifier.threshold:.2f}{configured}); "
                  f"loaded and scored a test prompt ({score:.2f}) in {took_ms:.0f} ms")


def _record_dict(r: RequestRecord, steps) -> dict:
    return asdict(r) | {"steps": [asdict(s) for s in steps]}


@main.command()
@click.option("--last", "last", default=20, show_default=True, type=click.IntRange(min=1),
              help="How many recent requests.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per request, with its steps.")
@click.option("--id", "request_id", default=None, help="Show one request (id or unique prefix).")
@click.option("--backend", default=None, help="Only requests answered by this backend.")
@click.option("--status", type=click.Choice(["received", "routed", "streaming", "done", "failed", "cancelled"]),
              default=None)
@click.option("--tree", "tree_id", default=None, help="Print one request or pipeline run (id or prefix) as a tree.")
@click.option("--prune", is_flag=True, help="Apply retention now (trace.keep_days, trace.max_mb) and shrink the file.")
@click.pass_obj
def logs(obj: Context, last, as_json, request_id, backend, status, tree_id, prune) -> None:
    """Every step of recent requests, from the trace store."""
    given = _given_logs_options(as_json=as_json, request_id=request_id, backend=backend, status=status,
                                tree_id=tree_id)
    _check_logs_options(given, prune=prune, tree_id=tree_id, request_id=request_id)
    trace = obj.trace()
    try:
        if prune:
            keep = obj.settings.trace
            done = trace.prune(keep_days=keep.keep_days, max_mb=keep.max_mb)
            on_open = trace.pruned_on_open()  # opening a store past its limits prunes it before this command
            click.echo((done if on_open is None else on_open.then(done)).describe())
            return
        if tree_id:
            _print_tree(trace, tree_id)
            return
        if request_id:
            record = trace.find_request(request_id)
            if record is None:
                raise HybridError(f"no request matches id {request_id!r}; `hybrid logs` lists recent ids")
            records = [record]
        else:
            records = list(reversed(trace.recent(last, backend=backend, status=status)))
        if as_json:
            for r in records:
                click.echo(json.dumps(_record_dict(r, trace.steps(r.id)), ensure_ascii=False))
            return
        if not records:
            click.echo(f"no requests in {trace.path} yet; try `hybrid ask \"hello\"`")
        for r in records:
            _print_record(r, trace.steps(r.id))
    finally:
        trace.close()


def _given_logs_options(*, as_json, request_id, backend, status, tree_id) -> list[str]:
    """The `hybrid logs` options the user gave, as they spelled them."""
    from click.core import ParameterSource

    last_given = click.get_current_context().get_parameter_source("last") != ParameterSource.DEFAULT
    flags = {"--last": last_given, "--json": as_json, "--id": request_id is not None, "--backend": backend is not None,
             "--status": status is not None, "--tree": tree_id is not None}
    return [flag for flag, on in flags.items() if on]


def _check_logs_options(given: list[str], *, prune: bool, tree_id: str | None, request_id: str | None) -> None:
    """Refuse option combinations `hybrid logs` would otherwise ignore silently."""
    for flag, value in (("--tree", tree_id), ("--id", request_id)):
        if value is not None and not value.strip():
            raise HybridError(f"{flag} needs a request id (or a unique prefix); `hybrid logs` lists recent ids")
    if prune and given:
        raise HybridError(f"--prune applies retention and prints one line; it does not combine with "
                          f"{', '.join(given)}. Fix: run `hybrid logs --prune` alone")
    if tree_id is None:
        if request_id is not None and (extra := [f for f in given if f in ("--last", "--backend", "--status")]):
            raise HybridError(f"--id shows one request; {', '.join(extra)} would be ignored. Fix: drop them, or "
                              "leave out --id to filter recent requests")
        return
    if "--json" in given:
        raise HybridError("--tree prints a tree, not JSON; fix: `hybrid logs --id ID --json` gives a "
                          "request and its steps as JSON")
    if extra := [f for f in given if f not in ("--tree",)]:
        raise HybridError(f"--tree prints one request or pipeline run; it does not combine with {', '.join(extra)}. "
                          "Fix: `hybrid logs --tree ID` alone")


def _print_tree(trace: TraceStore, request_id: str) -> None:
    from rich.console import Console

    from hybrid.span_tree import load_tree, render_tree

    record = trace.find_request(request_id)
    if record is None:
        raise HybridError(f"no request matches id {request_id!r}; `hybrid logs` lists recent ids")
    console = Console(highlight=False)
    if not console.is_terminal:  # piped or captured: keep each span on one line
        console = Console(highlight=False, width=240)
    steps = () if record.kind == "pipeline" else tuple(trace.steps(record.id))
    console.print(render_tree(load_tree(trace, record), steps))


def _print_record(r: RequestRecord, steps) -> None:
    when = datetime.fromtimestamp(r.created_at).strftime("%Y-%m-%d %H:%M:%S")
    cost = f"${r.cost:.6f}" if r.cost is not None else "-"
    score = f"{r.score:.2f}" if r.score is not None else "-"
    click.echo(f"{r.id}  {when}  {r.status:<9} task={clean(r.task)} score={score} backend={clean(r.backend or '-')} "
               f"tokens={r.input_tokens or 0}+{r.output_tokens or 0} cost={cost}"
               f"{' cached' if r.cached else ''}{' feedback=' + r.feedback if r.feedback else ''}")
    click.echo(f"  prompt: {_clip(r.prompt)}")
    from hybrid.step_text import step_line

    for s in steps:
        facts, detail = step_line(s)
        click.echo(f"  {s.seq:>2}. {s.kind:<12} {facts}  {_clip(detail)}")


def _clip(text: str, width: int = 110) -> str:
    """One line, control characters shown as pictures (a logged prompt cannot drive the terminal)."""
    return one_line(text, width)


@main.command()
@click.argument("request_id")
@click.argument("label", type=click.Choice(["good", "bad"]))
@click.option("--note", default=None, help="Why, in a few words.")
@click.pass_obj
def feedback(obj: Context, request_id: str, label: str, note: str | None) -> None:
    """Label a logged answer good or bad; `hybrid train --from-trace` learns from these."""
    trace = obj.trace()
    try:
        record = trace.find_request(request_id)
        if record is None:
            raise HybridError(f"no request matches id {request_id!r}; `hybrid logs` lists recent ids")
        if record.status != "done":
            raise HybridError(f"request {record.id} is {record.status}, so it has no answer to label; fix: label a "
                              "request `hybrid logs --status done` lists")
        trace.add_feedback(record.id, label, source="user", note=note)
    finally:
        trace.close()
    click.echo(f"{record.id}: marked {label}")


@main.command()
@click.option("--max-tokens", default=48, show_default=True, help="Tokens per answer (keep small on a laptop).")
@click.pass_obj
def demo(obj: Context, max_tokens: int) -> None:
    """Route a small built-in workload and print a routing table."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from hybrid.demo import run_demo

    console = Console()
    router = obj.router()
    # Under 120 columns (80 is common, and the default when piped) the reasons go under the prompt and tokens and
    # latency are left to `hybrid logs`, so numbers and names never break mid-word.
    narrow = console.width < WIDE_TERMINAL
    columns = ("#", "task", "prompt / why", "score", "backend", "cost") if narrow else (
        "#", "task", "prompt", "score", "backend", "why", "tokens", "latency", "cost")
    table = Table(title="hybrid demo: where each request went", show_lines=narrow)
    for col in columns:
        table.add_column(col, overflow="fold", no_wrap=col not in ("prompt", "why", "prompt / why"))

    def add_row(i: int, task: str, prompt: str, score: str, backend: str, why: str, tokens: str, latency: str,
                cost: str) -> None:
        if narrow:
            table.add_row(str(i), task, f"{escape(_clip(prompt, 40))}\n[dim]{escape(why)}[/]", score, backend, cost)
        else:
            table.add_row(str(i), task, escape(_clip(prompt, 40)), score, backend, escape(why), tokens, latency, cost)

    spent = frontier = 0.0
    local = total = 0
    ids: list[str] = []
    reference = router.backends[obj.settings.routing.reference].price
    try:
        for i, outcome in enumerate(run_demo(router, max_tokens=max_tokens), start=1):
            c = outcome.completion
            total += 1
            ids += [c.request_id] if c is not None else []
            if c is None:
                add_row(i, outcome.item.task, outcome.item.prompt, "-", "[red]failed", outcome.error or "", "-", "-",
                        "-")
                continue
            is_local = router.backends[c.backend].is_local
            local += is_local
            spent += c.cost
            frontier += reference.cost(c.usage)
            add_row(
                i, outcome.item.task, outcome.item.prompt, f"{c.decision.score:.2f}",
                f"{'local' if is_local else 'cloud'}: {c.backend}", c.decision.explain(),
                f"{c.usage.input_tokens}+{c.usage.output_tokens}", f"{c.latency_s:.2f}s", f"${c.cost:.5f}",
            )
    finally:
        router.close()
    console.print(table)
    saved = frontier - spent
    console.print(
        f"{total} requests, {local} answered locally ({local / max(total, 1):.0%}). Spent ${spent:.5f}; "
        f"all-frontier ({obj.settings.routing.reference}) would have cost ${frontier:.5f}: saved ${saved:.5f}, "
        "at this cost in quality:"
    )
    for line in _quality_lines(obj, ids):
        console.print(f"  {escape(line)}")
    console.print("Every step is in the trace: `hybrid logs --last 5`; spend and quality over time: `hybrid report`.")


def _quality_lines(obj: Context, ids: list[str]) -> list[str]:
    """The answer checks and the labelled quality of the demo's own requests (nothing when not logged)."""
    from hybrid.report import build_report

    if obj.no_log or not obj.settings.trace.enabled or not ids:
        return ["quality unmeasured (--no-log: nothing was traced)"]
    trace = obj.trace()
    try:
        records = [r for r in (trace.get_request(i) for i in ids) if r is not None]
        report = build_report(records, trace.steps)
    finally:
        trace.close()
    return [report.checks.describe(), report.quality.describe()]


@main.command()
@click.option("--since", "since", default="7d", show_default=True, help="How far back: 30m, 12h, 7d, 2w.")
@click.pass_obj
def report(obj: Context, since: str) -> None:
    """Money saved next to what it cost in quality, and spend against each budget cap."""
    from hybrid.budget import BudgetGuard
    from hybrid.report import parse_since, report_from_trace, since_label

    since_s = parse_since(since)
    trace = obj.trace()
    try:
        caps = BudgetGuard(obj.settings.budget, trace).status()
        result = report_from_trace(trace, caps, since_s=since_s, window=since_label(since))
    finally:
        trace.close()
    for line in result.lines():
        click.echo(line)


@main.command()
@click.option("--host", default=None, help="Address to bind (default: server.host, 127.0.0.1). Non-loopback needs server.token.")
@click.option("--port", default=None, type=click.IntRange(0, 65535),
              help="Port, 0-65535; 0 picks a free one (default: server.port, 8787).")
@click.pass_obj
def serve(obj: Context, host: str | None, port: int | None) -> None:
    """Serve OpenAI- and Anthropic-compatible APIs (/v1/chat/completions, /v1/messages) that route every request."""
    from hybrid.server import listening
    from hybrid.server import serve as run_server
    from hybrid.server.auth import check_exposure

    given = {"host": host, "port": port}
    settings = obj.settings.server.model_copy(update={k: v for k, v in given.items() if v is not None})
    check_exposure(settings.host, settings.token)
    with listening(settings.host, settings.port) as sockets:  # bound before announcing: a port in use is one line
        router = obj.router()
        host = f"[{settings.host}]" if ":" in settings.host else settings.host  # an IPv6 address in a URL
        base = f"http://{host}:{sockets[0].getsockname()[1]}"
        click.echo(f"hybrid serving on {base} (OpenAI base_url {base}/v1, Anthropic base_url {base}; model 'hybrid')"
                   + ("; token required" if settings.token else "") + "; Ctrl-C stops")
        try:
            run_server(router, settings, local=obj.settings.routing.local, sockets=sockets)
        except KeyboardInterrupt:  # uvicorn has already shut down cleanly; Ctrl-C is how serve ends
            pass
        finally:
            router.close()


def _add_learning_commands() -> None:
    from hybrid.cli_learn import COMMANDS
    from hybrid.cli_pipeline import COMMANDS as PIPELINE_COMMANDS

    for command in (*COMMANDS, *PIPELINE_COMMANDS):
        main.add_command(command)


_add_learning_commands()


def entry() -> None:
    """The ``hybrid`` console script: :func:`main`, then an exit that skips the final garbage collections.

    When the interpreter shuts down it runs full collections over every object the command made
    (pydantic's schemas, numpy, the classifier's tables), up to 0.1 s of a one-shot ``hybrid ask``
    (``benchmarks/local.py``). Frozen objects are skipped by those collections and left to the OS; exit
    handlers, stream flushes and everything the command closed itself (the trace) run as before.
    """
    try:
        main()
    finally:
        gc.freeze()


if __name__ == "__main__":
    entry()
