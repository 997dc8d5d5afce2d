"""The learning loop: labels from real use, retraining, calibration and judge labelling.

Where labels come from (1 = the local answer was not good enough, the request needed escalation):
- explicit feedback: ``hybrid feedback ID good|bad`` (or the TUI's g/b keys) on a locally answered
  request labels that prompt and its local answer;
- cascade outcomes: a cascade draft that the user or the judge labelled is a (prompt, draft) example
  for the answer-aware model; an escalated cascade keeps both answers, so the judge compares them
  without paying for a second answer. The cascade's own escalate/keep decision is not used as a
  label: that would teach the classifier its own guesses;
- judge labelling (``hybrid label --judge``): the frontier model answers a sample of locally answered
  prompts and compares the two answers, RouteLLM-style. Only with the cloud reachable and a budget set;
- answer checks on the local model's own drafts: a cascade draft whose checks fired (cut off, no final
  answer, wrong arithmetic, ...) is a label-1 example of source ``check``, so the classifier learns what is
  hard *for the local model in use*. These rank below user, judge and imported labels: any of those on the
  same request wins;
- imported label files (``hybrid train --labels FILE``).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from hybrid.draft_step import read_draft_step
from hybrid.errors import HybridError
from hybrid.report import finish_reason_of
from hybrid.settings import Paths, Settings, set_config_value
from hybrid.trace import RequestRecord, TraceStore
from hybrid.types import Message, Request

if TYPE_CHECKING:
    from hybrid.router import Router

FractionProgress = Callable[[float, str], None]
SOURCE_PRIORITY = {"user": 0, "judge": 1, "import": 2, "check": 3}
#: How many recent requests ``labels_from_trace`` reads for check-derived labels.
CHECK_SCAN = 5000


def _no_progress(fraction: float, message: str) -> None:
    pass


@dataclass(frozen=True)
class LabelExample:
    request_id: str
    prompt: str
    answer: str | None
    label: int
    source: str
    finish_reason: str | None = None
    """Why the local model stopped writing ``answer`` (``length``: cut off), for the answer checks in training."""

    def to_line(self) -> dict:
        line = {"prompt": self.prompt, "label": self.label}
        if self.answer is not None:
            line["answer"] = self.answer
        if self.finish_reason is not None:
            line["finish_reason"] = self.finish_reason
        return line


@dataclass(frozen=True)
class Answers:
    """What a request's trace holds: the local model's answer, and the frontier's when an escalated cascade
    already paid for one (so the judge need not ask again)."""

    local: str | None
    frontier: str | None = None
    finish_reason: str | None = None
    """Why the local model stopped writing ``local`` (from its backend call), when the trace says."""
    checks_fired: bool = False
    """Whether ``local`` is a cascade draft whose answer checks fired."""


def answers(trace: TraceStore, record: RequestRecord) -> Answers:
    """The local answer is the request's output, or its cascade draft; read from the steps once."""
    steps = trace.steps(record.id)
    for i, step in enumerate(steps):
        found = read_draft_step(step.output) if step.kind == "draft" else None
        if found is not None:
            return Answers(found.text, record.output if record.is_local is False else None,
                           finish_reason_of(steps[:i], found.text), bool(found.fired))
    if record.status == "done" and record.is_local:
        return Answers(record.output, None, finish_reason_of(steps, record.output))
    return Answers(None)


def check_labels(trace: TraceStore, skip: set[str], limit: int = CHECK_SCAN) -> list[LabelExample]:
    """Label-1 examples from recent cascade drafts whose answer checks fired (requests in ``skip`` excluded)."""
    examples = []
    for record in trace.recent(limit):
        if record.id in skip:
            continue
        found = answers(trace, record)
        if found.checks_fired:
            examples.append(LabelExample(record.id, record.prompt, found.local, 1, "check", found.finish_reason))
    return examples


def labels_from_trace(trace: TraceStore) -> list[LabelExample]:
    """One example per labelled request that has a local answer.

    User labels win over judge labels, which win over imported ones; a cascade draft whose answer checks
    fired is a label-1 example of source ``check`` unless another label covers that request.
    """
    best: dict[str, tuple[int, str, str]] = {}
    for request_id, label, source in trace.feedback_rows():
        rank = SOURCE_PRIORITY.get(source, 9)
        if request_id not in best or rank <= best[request_id][0]:
            best[request_id] = (rank, label, source)
    examples = []
    for request_id, (_, label, source) in best.items():
        record = trace.get_request(request_id)
        if record is None:
            continue
        found = answers(trace, record)
        if found.local is None:
            continue  # a cloud answer's label says nothing about whether local would have done
        examples.append(LabelExample(request_id, record.prompt, found.local, 1 if label == "bad" else 0, source,
                                     found.finish_reason))
    return examples + check_labels(trace, set(best))


@dataclass(frozen=True)
class LearningOutcome:
    version: str
    promoted: bool
    reason: str
    metrics: dict[str, float] = field(default_factory=dict)
    n_labels: int = 0
    labels_file: Path | None = None
    notes: tuple[str, ...] = ()
    """What the user should do next, e.g. recalibrate a configured threshold after a promotion."""


SOURCE_WORDS = {"user": "your feedback", "judge": "the judge", "import": "imported labels",
                "check": "failed answer checks"}


def _one_kind(lines: list[dict], sources: list[str]) -> str | None:
    """Why a held-out comparison is impossible when every label is of one kind; None when both kinds are there."""
    from classifiers.data import label_kinds, parse_label

    hard, good = label_kinds([parse_label(line) for line in lines])
    if hard and good:
        return None
    counts = ", ".join(f"{n} from {SOURCE_WORDS.get(source, source)}"
                       for source, n in sorted(Counter(sources).items(), key=lambda item: -item[1]))
    if hard:
        kind, other = "needed the frontier model", "some good answers (`hybrid feedback ID good`"
    else:
        kind, other = "was good enough locally", "some answers that needed the frontier model (`hybrid feedback ID bad`"
    return (f'all {len(lines)} labels say "{kind}" ({counts}); held-out metrics need both kinds: label {other}, '
            "`hybrid label --judge --budget 0.50`), or pass --force to train and promote without a comparison")


def _threshold_notes(settings: Settings, paths: Paths, previous: str) -> tuple[str, ...]:
    """After a promotion: the configured thresholds were set for ``previous`` and still override the new one's."""
    routing = settings.routing
    return tuple(
        f"{key} {value} in {paths.config_file} was calibrated for the previous classifier ({previous}) and stays in "
        f"use; once the new one has scored {MIN_CALIBRATION} requests, run `hybrid calibrate --escalate SHARE` again (or remove "
        f"{key} to use the new classifier's own)"
        for key, value in (("routing.threshold", routing.threshold), ("routing.draft_threshold",
                                                                       routing.draft_threshold))
        if value is not None
    )


def _stage_progress(progress: FractionProgress) -> Callable[[str, int, int], None]:
    stages = ["features", "fit", "holdout", "write"]

    def report(stage: str, done: int, total: int) -> None:
        index = stages.index(stage) if stage in stages else 0
        fraction = (index + (done / total if total else 1.0)) / len(stages)
        progress(min(fraction, 1.0), f"{stage} {done}/{total}")

    return report


def train_from_trace(
    settings: Settings,
    paths: Paths,
    progress: FractionProgress = _no_progress,
    *,
    labels: Path | None = None,
    from_trace: bool = True,
    base: str = "default",
    force: bool = False,
) -> LearningOutcome:
    """Retrain on the trace's labels (and/or a label file); promote only if better unless ``force``."""
    import classifiers
    from hybrid.runtime import open_trace

    lines: list[dict] = []
    sources: list[str] = []
    if from_trace:
        trace = open_trace(settings, paths)
        try:
            examples = labels_from_trace(trace)
        finally:
            trace.close()
        lines += [e.to_line() for e in examples]
        sources += [e.source for e in examples]
    if labels is not None:
        lines += _read_label_lines(Path(labels))
        sources += [str(labels)] * (len(lines) - len(sources))
    if not lines:
        raise HybridError(
            "no labels to train on: mark answers with `hybrid feedback ID good|bad` (or g/b in the TUI), "
            "run `hybrid label --judge --budget 0.50`, route in cascade mode (drafts that fail an answer check "
            "become labels), or pass --labels FILE"
        )
    one_kind = _one_kind(lines, sources)
    if one_kind is not None and not force:
        raise HybridError(one_kind)
    combined = paths.data_dir / "labels" / f"train-{time.strftime('%Y%m%dT%H%M%S')}.jsonl"
    combined.parent.mkdir(parents=True, exist_ok=True)
    combined.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines))
    progress(0.0, f"training on {len(lines)} labels")
    result = classifiers.train(combined, paths.artifacts_dir, base=base, force=force,
                               progress=_stage_progress(progress), configured=settings.classifier.path)
    metrics = {
        f"{c.mode} {name} {which}": getattr(m, name)
        for c in result.comparisons
        for which, m in (("new", c.new), ("current", c.current))
        for name in ("auc", "apgr", "cpt50")
    }
    progress(1.0, "done")
    notes = _threshold_notes(settings, paths, result.previous) if result.promoted else ()
    return LearningOutcome(result.version, result.promoted, result.reason, metrics, len(lines), combined, notes)


def _read_label_lines(path: Path) -> list[dict]:
    """The label file's lines, refused whole (naming each bad line) if any is malformed."""
    from classifiers.data import read_labels

    if not path.is_file():
        raise HybridError(f"labels file {path} does not exist; pass a JSONL file of {{prompt, answer?, label|win}}")
    _, errors = read_labels(path)
    if errors:
        shown = "; ".join(str(e) for e in errors[:5])
        raise HybridError(f"{path}: {len(errors)} bad label line(s): {shown}; fix or remove them")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


MIN_CALIBRATION = 10
"""The fewest recent scores (requests, or cascade drafts) a threshold is calibrated on."""


@dataclass(frozen=True)
class Calibration:
    threshold: float
    n_scores: int
    share: float
    written_to: Path
    draft_threshold: float | None = None
    """The ``routing.draft_threshold`` written, or None when there were too few drafts to calibrate it."""
    n_drafts: int = 0
    failed_checks: int = 0
    n_escalating: int = 0
    """How many of the ``n_scores`` recent scores are at or above ``threshold`` (scores tied at the edge all
    escalate, so this can differ from ``share * n_scores``)."""
    n_drafts_escalating: int = 0
    version: str = ""
    """The classifier whose scores were calibrated."""
    kept_draft_threshold: float | None = None
    """The ``routing.draft_threshold`` already in the config, left as it is when no draft threshold was written."""

    @property
    def check_failure_share(self) -> float | None:
        """The share of recent local drafts that failed an answer check (None without drafts)."""
        return self.failed_checks / self.n_drafts if self.n_drafts else None


def traffic(trace: TraceStore, last: int) -> list[RequestRecord]:
    """The user's ``last`` most recent routed requests, newest first: judge labelling's requests and pipeline
    root spans are not traffic (:func:`hybrid.report.is_traffic`) and take no room in the window."""
    from hybrid.report import is_traffic

    limit = last
    while True:
        rows = trace.recent(limit)
        kept = [r for r in rows if is_traffic(r)]
        if len(kept) >= last or len(rows) < limit:
            return kept[:last]
        limit *= 2


def recent_drafts(records: list[RequestRecord], trace: TraceStore, version: str) -> tuple[list[float], int]:
    """Scores of the cascade drafts among ``records`` that ``version`` assessed, and how many failed a check."""
    scores, failed = [], 0
    for record in records:
        if record.classifier != version:
            continue
        for step in trace.steps(record.id):
            found = read_draft_step(step.output) if step.kind == "draft" else None
            if found is not None and isinstance(step.output.get("score"), (int, float)):
                scores.append(float(step.output["score"]))
                failed += bool(found.fired)
                break
    return scores, failed


def calibrate_from_trace(settings: Settings, paths: Paths, share: float, *, last: int = 1000) -> Calibration:
    """Set ``routing.threshold`` so ``share`` of the user's recent requests' scores would escalate.

    With at least ``MIN_CALIBRATION`` recent cascade drafts, ``routing.draft_threshold`` is set the same way from
    their scores (answer checks included); with fewer, a configured one is left as it is. Judge labelling's
    requests are not the user's traffic and are left out (:func:`traffic`).
    """
    from classifiers import calibrate_threshold, escalating, readable_threshold
    from hybrid.runtime import load_classifier, open_trace

    classifier = load_classifier(settings, paths)
    trace = open_trace(settings, paths)
    try:
        records = traffic(trace, last)
        scores = [r.score for r in records if r.score is not None and r.classifier == classifier.version]
        drafts, failed = recent_drafts(records, trace, classifier.version)
    finally:
        trace.close()
    if len(scores) < MIN_CALIBRATION:
        raise HybridError(
            f"only {len(scores)} recent requests were scored by {classifier.version}; route at least "
            f"{MIN_CALIBRATION} (e.g. `hybrid demo`) before calibrating"
        )
    threshold = readable_threshold(scores, calibrate_threshold(scores, share))
    set_config_value(paths.config_file, "routing.threshold", threshold)
    draft_threshold = None
    if len(drafts) >= MIN_CALIBRATION:
        draft_threshold = readable_threshold(drafts, calibrate_threshold(drafts, share))
        set_config_value(paths.config_file, "routing.draft_threshold", draft_threshold)
    return Calibration(threshold, len(scores), share, paths.config_file, draft_threshold, len(drafts), failed,
                       escalating(scores, threshold),
                       escalating(drafts, draft_threshold) if draft_threshold is not None else 0,
                       classifier.version, settings.routing.draft_threshold)


# -- judge labelling -----------------------------------------------------------

JUDGE_SYSTEM = (
    "You are an impartial judge. Compare two assistant answers to the same user request. Judge helpfulness, "
    "correctness and completeness; ignore length and style. Reply with a one-sentence reason, then the verdict on "
    "its own line: [[A]] if answer A is better, [[B]] if answer B is better, [[C]] for a tie."
)
_VERDICT = re.compile(r"\[\[([ABC])\]\]")


@dataclass(frozen=True)
class JudgeOutcome:
    labelled: int
    skipped: int
    spent: float
    stopped_by_budget: bool
    labels: tuple[tuple[str, str], ...]
    kept_private: int = 0
    stopped_because: str = ""


def judge_candidates(trace: TraceStore, limit: int) -> Iterator[tuple[RequestRecord, Answers]]:
    """Unlabelled, locally answered requests, newest first, with their answers."""
    labelled = {request_id for request_id, _, _ in trace.feedback_rows()}
    for record in trace.recent(max(limit * 10, 200), status="done"):
        if record.id not in labelled and record.task != "judge":
            found = answers(trace, record)
            if found.local is not None:
                yield record, found


REFERENCE_CHARS = 2048
"""Room kept for the frontier's own answer when planning a judge verdict before that answer exists."""


def _verdict_request(record: RequestRecord, local: str, reference: str, swap: bool) -> Request:
    a, b = (reference, local) if swap else (local, reference)
    return Request.from_prompt(f"[User request]\n{record.prompt}\n\n[Answer A]\n{a}\n\n[Answer B]\n{b}",
                               system=JUDGE_SYSTEM, max_tokens=200, task="judge", parent_id=record.id)


class _JudgeRun:
    """Judge calls through the router, each checked first against ``--budget`` and the configured caps."""

    def __init__(self, router: Router, budget: float) -> None:
        self.router, self.budget = router, budget
        self.judge = router.policy.cloud_for("judge")
        self.spent, self.stopped = 0.0, ""
        self.ids: list[str] = []

    def room_for(self, *requests: Request) -> bool:
        worst = sum(self.router.guards.worst_case(r, self.judge) for r in requests)
        if self.spent + worst > self.budget:
            self.stopped = (f"--budget ${self.budget:.4f}: ${self.spent:.4f} spent, the next judgement's worst case "
                            f"is ${worst:.4f}")
        else:
            self.stopped = self.router.guards.budget.check(self.judge, worst) or ""
        return not self.stopped

    def private(self, request: Request) -> bool:
        verdict = self.router.guards.privacy.verdict(request)
        return verdict.local_only and not verdict.redactable(self.router.settings.privacy.mode)

    def ask(self, request: Request) -> str | None:
        completion = self.router.complete(request)
        self.spent += completion.cost
        self.ids.append(completion.request_id)
        if self.router.backends[completion.backend].is_local:
            self.stopped = f"the judge request was answered locally ({completion.decision.explain()})"
            return None
        return completion.text


def judge_label(
    router: Router,
    *,
    sample: int,
    budget: float,
    progress: FractionProgress = _no_progress,
) -> JudgeOutcome:
    """Label up to ``sample`` locally answered requests with the frontier model, spending at most ``budget``.

    Every judge call goes through the router (a ``judge`` task request, traced and costed like any other, whose
    parent is the judged request), after its worst case was checked against ``budget`` and the budget caps.
    Requests that must stay local (hybrid/privacy.py) are not judged.
    """
    if budget <= 0:
        raise HybridError("judge labelling spends money: set a budget, e.g. --budget 0.50 (US dollars)")
    trace = router.trace
    if not isinstance(trace, TraceStore):
        raise HybridError("judge labelling reads and writes the trace; run it without --no-log")
    run = _JudgeRun(router, budget)
    judge = router.backends[run.judge]
    health = judge.health(deep=True)
    if not health.ok:
        raise HybridError(f"judge labelling needs the cloud, and {run.judge} is unavailable: {health.detail}")
    labels, skipped, private = [], 0, 0
    candidates = list(itertools.islice(judge_candidates(trace, sample), sample))
    for i, (record, found) in enumerate(candidates):
        progress(i / max(len(candidates), 1), f"judging {record.id}")
        local, reference = found.local or "", found.frontier
        swap = int(hashlib.sha256(record.id.encode()).hexdigest(), 16) % 2 == 1
        first = len(run.ids)
        if reference is None:
            messages = tuple(Message(m["role"], m["content"]) for m in record.messages)
            own = Request(messages=messages, max_tokens=512, task="judge", parent_id=record.id)
            planned = _verdict_request(record, local, "x" * REFERENCE_CHARS, swap)
            if run.private(own) or run.private(planned):
                private += 1
                continue
            if not run.room_for(own, planned):
                break
            reference = run.ask(own)
            if reference is None:
                break
        verdict_request = _verdict_request(record, local, reference, swap)
        if run.private(verdict_request):
            private += 1
            continue
        if not run.room_for(verdict_request):
            break
        verdict_text = run.ask(verdict_request)
        if verdict_text is None:
            break
        match = _VERDICT.findall(verdict_text)
        trace.add_step(record.id, "judge", backend=run.judge, model=judge.model,
                       input={"local": local, "reference": reference, "local_is": "B" if swap else "A"},
                       output={"verdict": verdict_text, "judge_requests": run.ids[first:]})
        if not match:
            skipped += 1
            continue
        local_letter = "B" if swap else "A"
        label = "bad" if match[-1] not in (local_letter, "C") else "good"
        trace.add_feedback(record.id, label, source="judge", note=f"verdict [[{match[-1]}]], local was {local_letter}")
        labels.append((record.id, label))
    progress(1.0, "done")
    return JudgeOutcome(len(labels), skipped, run.spent, bool(run.stopped), tuple(labels), private, run.stopped)
