"""Budget caps: never crossed, reserved under concurrency, degrading to local with the reason; judge labelling."""

from __future__ import annotations

import threading
import time
from datetime import datetime

import pytest

from hybrid.budget import BudgetExceeded, BudgetGuard, period_start, worst_case_cost
from hybrid.guards import Guards
from hybrid.learning import REFERENCE_CHARS, _verdict_request, judge_label
from hybrid.report import report_from_trace
from hybrid.settings import BudgetSettings
from hybrid.types import Price, Request
from tests.cloud_router import cloud_router
from tests.fakes.anthropic_api import FakeAnthropicAPI
from tests.fakes.backend import FakeBackend
from tests.fakes.classifier import FixedClassifier
from tests.helpers import fake_router

ANSWER = "A short answer of exactly eight words here."


@pytest.fixture
def api():
    with FakeAnthropicAPI() as fake:
        yield fake


def cloud_spend(trace) -> list[float]:
    return [s.cost for r in trace.recent(1000) for s in trace.steps(r.id) if s.kind == "backend_call" and s.cost]


def test_a_cap_reached_mid_run_is_never_crossed_and_later_requests_degrade(tmp_path, api):
    cap = 0.001
    router, _, trace = cloud_router(tmp_path, api, budget={"daily": cap})
    outcomes = []
    for i in range(12):
        api.enqueue_text(ANSWER)
        outcomes.append(router.complete(Request.from_prompt(f"Explain topic number {i} in depth", max_tokens=20)))
    backends = [c.backend for c in outcomes]
    first_local = backends.index("smollm2")
    assert first_local >= 2 and set(backends[first_local:]) == {"smollm2"}  # once degraded, it stays degraded
    assert 0 < sum(cloud_spend(trace)) <= cap
    degraded = outcomes[first_local].decision.explain()
    assert "sonnet not used (budget: the daily cap $0.0010 overall would be crossed" in degraded
    assert "strongest local model smollm2 used instead" in degraded
    lines = report_from_trace(trace, router.guards.budget.status(), since_s=86400).lines()
    spent = sum(cloud_spend(trace))
    assert f"budget: daily cap $0.0010 overall: ${spent:.4f} spent, ${cap - spent:.4f} left" in lines
    assert any(f"{12 - first_local} by a budget cap" in line for line in lines)


def test_per_backend_cap_leaves_other_backends_alone(tmp_path, api):
    router, _, _ = cloud_router(tmp_path, api, budget={"backends": {"opus": {"daily": 0.0}}})
    pinned = router.complete(Request.from_prompt("Prove it", task="reason"))
    assert pinned.backend == "smollm2" and "opus not used (budget: the daily cap $0.0000 for opus" in \
        pinned.decision.explain()
    assert router.complete(Request.from_prompt("Hard question")).backend == "sonnet"


def test_concurrent_reservations_cannot_both_take_the_last_dollar():
    guard = BudgetGuard(BudgetSettings(daily=1.0), None)
    start = threading.Barrier(8)
    granted, refused = [], []

    def take():
        start.wait()
        try:
            granted.append(guard.reserve("sonnet", 0.3))
        except BudgetExceeded as e:
            refused.append(str(e))

    threads = [threading.Thread(target=take) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(granted) == 3 and len(refused) == 5
    assert "daily cap $1.0000 overall would be crossed ($0.9000 spent or reserved" in refused[0]
    granted[0].release(0.1)  # a finished call's real cost counts, its unused reservation comes back
    assert guard.check("sonnet", 0.3) is None and guard.status()[0].spent == pytest.approx(0.7)


def test_the_router_reserves_before_each_cloud_call(tmp_path, api):
    router, backends, trace = cloud_router(tmp_path, api, budget={"daily": 1.0})
    request = Request.from_prompt("Hard question", max_tokens=50)
    seen = []
    original = router.guards.budget.reserve
    router.guards.budget.reserve = lambda name, amount: seen.append((name, amount)) or original(name, amount)
    router.complete(request)
    ((name, amount),) = seen
    assert name == "sonnet" and amount == pytest.approx(worst_case_cost(request, backends["sonnet"].price))
    assert sum(cloud_spend(trace)) <= amount and router.guards.budget.status()[0].spent == sum(cloud_spend(trace))


def test_periods_follow_the_local_calendar():
    now = datetime(2026, 3, 17, 15, 30).timestamp()
    assert datetime.fromtimestamp(period_start("daily", now)) == datetime(2026, 3, 17)
    assert datetime.fromtimestamp(period_start("monthly", now)) == datetime(2026, 3, 1)


def _local_answers(router, n):
    ids = []
    for i in range(n):
        ids.append(router.complete(Request.from_prompt(f"Label {i}: I loved it", task="classify")).request_id)
    return ids


def test_judge_spend_never_exceeds_the_budget_and_each_call_is_a_traced_backend_call(tmp_path, api):
    router, backends, trace = cloud_router(tmp_path, api, score=0.1)
    _, second = _local_answers(router, 2)
    for _ in range(2):
        api.enqueue_text("Positive.")
        api.enqueue_text("Both are right.\n[[C]]")
    candidate = trace.get_request(second)  # newest first: the judge starts with this one
    own = Request.from_prompt(candidate.prompt, max_tokens=512)
    planned = _verdict_request(candidate, candidate.output, "x" * REFERENCE_CHARS, False)
    price = backends["sonnet"].price
    budget = worst_case_cost(own, price) + worst_case_cost(planned, price)  # room for one judgement, not two
    outcome = judge_label(router, sample=5, budget=budget)
    assert outcome.labelled == 1 and outcome.stopped_by_budget and "--budget" in outcome.stopped_because
    assert 0 < outcome.spent <= budget
    judged = [r for r in trace.recent(50) if r.task == "judge"]
    assert len(judged) == 2 and {r.parent_id for r in judged} == {second}
    for r in judged:
        (call,) = [s for s in trace.steps(r.id) if s.kind == "backend_call"]
        assert call.backend == "sonnet" and call.cost > 0 and r.cost == call.cost
    assert sum(r.cost for r in judged) == pytest.approx(outcome.spent)


def test_a_tiny_judge_budget_spends_nothing(tmp_path, api):
    router, _, _ = cloud_router(tmp_path, api, score=0.1)
    _local_answers(router, 2)
    outcome = judge_label(router, sample=5, budget=0.000001)
    assert outcome.labelled == 0 and outcome.spent == 0 and api.messages_requests() == []


def test_judge_skips_requests_that_must_stay_local(tmp_path, api):
    router, _, _ = cloud_router(tmp_path, api, score=0.1)
    router.complete(Request.from_prompt("Email maria.gonzalez@fastmail.com the plan", task="classify"))
    outcome = judge_label(router, sample=5, budget=1.0)
    assert outcome.kept_private == 1 and outcome.labelled == 0 and api.messages_requests() == []


class GatedCloud(FakeBackend):
    """A cloud backend whose calls wait at a gate, so two requests are in flight at once."""

    def __init__(self, gate: threading.Event, **kwargs) -> None:
        super().__init__("sonnet", is_local=False, price=Price(3.0, 15.0), model="claude-sonnet-4-6", **kwargs)
        self.gate = gate

    def stream(self, request):
        self.gate.wait(5)
        yield from super().stream(request)


def test_two_parallel_requests_cannot_both_pass_the_last_reservation(tmp_path):
    gate = threading.Event()
    router, _, trace = fake_router(tmp_path, classifier=FixedClassifier(0.9))
    request = Request.from_prompt("Hard question", max_tokens=100)
    worst = worst_case_cost(request, Price(3.0, 15.0))
    router.backends["sonnet"] = cloud = GatedCloud(gate)
    router.guards = Guards(router.settings.model_copy(update={"budget": BudgetSettings(daily=worst * 1.5)}),
                           router.backends, trace)
    results = []
    threads = [threading.Thread(target=lambda: results.append(router.complete(request))) for _ in range(2)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 10
    while not any(r.backend == "smollm2" for r in results) and time.monotonic() < deadline:
        time.sleep(0.01)  # the second is refused while the first holds its share
    gate.set()
    for t in threads:
        t.join()
    assert sorted(r.backend for r in results) == ["smollm2", "sonnet"] and len(cloud.history) == 1
    degraded = next(r for r in results if r.backend == "smollm2")
    # refused when deciding (the other call already held its share), or at the call (both had passed the decision)
    why = [degraded.decision.explain()] + [s.output["why"] for s in trace.steps(degraded.request_id)
                                           if s.kind == "fallback"]
    assert any("budget: the daily cap" in w for w in why)


def test_a_refusal_near_the_cap_shows_the_decimals_that_cross_it():
    guard = BudgetGuard(BudgetSettings(daily=0.0005), None)
    guard.reserve("sonnet", 0.000412)
    refusal = guard.check("sonnet", 0.000091)  # 0.0004 + 0.0001 would seem to fit under $0.0005
    assert "would be crossed ($0.000412 spent or reserved, this call's worst case $0.000091)" in refusal
