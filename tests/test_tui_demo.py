"""The dashboard's demo worker renders the router's events and cancels the request in flight when the app quits."""

from __future__ import annotations

import time

from hybrid.demo import DEMO_WORKLOAD, run_demo
from hybrid.trace import TraceStore
from tests.fakes.backend import FakeBackend
from tests.fakes.classifier import FixedClassifier
from tests.helpers import fake_router
from tests.test_tui_app import SIZE, plain, sync, until
from tui.app import HybridApp
from tui.feed import FeedFilter
from tui.stats import summarize
from tui.widgets.summary import summary_text


class SlowBackend(FakeBackend):
    """Writes one word every 20 ms, like a real local model."""

    def stream(self, request):
        for chunk in super().stream(request):
            time.sleep(0.02)
            yield chunk


@sync
async def test_quitting_mid_demo_cancels_the_request_in_flight_and_starts_no_other(tmp_path):
    router, _, trace = fake_router(tmp_path)
    slow = SlowBackend("smollm2").enqueue(" ".join(["word"] * 400))
    router.backends["smollm2"] = slow
    app = HybridApp(trace, config_file=tmp_path / "config.toml", threshold=0.5, router=router, poll_interval=0.05,
                    workload=lambda cancel, on_event: run_demo(router, cancel=cancel, on_event=on_event))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: any(r.status == "streaming" for r in trace.recent(5)))
        await pilot.press("q")
    assert app.demo_idle.wait(5)
    rows = trace.recent(20)
    assert len(rows) == 1 < len(DEMO_WORKLOAD)
    assert rows[0].status == "cancelled" and slow.closed  # the model stopped writing


@sync
async def test_the_demo_line_says_when_a_draft_is_held_back(tmp_path):
    router, _, trace = fake_router(tmp_path, classifier=FixedClassifier(0.1, draft_score=0.9),
                                   routing={"mode": "cascade"})
    router.backends["smollm2"] = SlowBackend("smollm2").enqueue(" ".join(["word"] * 400))
    app = HybridApp(trace, config_file=tmp_path / "config.toml", threshold=0.5, router=router, poll_interval=0.05,
                    workload=lambda cancel, on_event: run_demo(router, cancel=cancel, on_event=on_event))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: "smollm2 is writing a draft" in (app.demo_state or ""))
        await pilot.press("q")
    assert app.demo_idle.wait(5)
    assert trace.recent(1)[0].status == "cancelled"


def test_cancelled_requests_are_counted_and_filterable(tmp_path):
    trace = TraceStore(tmp_path / "t.db")
    for i, status in enumerate(["done", "failed", "cancelled"]):
        trace.start_request(f"r{i}", task="chat", messages=[{"role": "user", "content": "hi"}], params={})
        trace.update_request(f"r{i}", status=status)
    summary = summarize(trace.recent(10), now=time.time())
    assert (summary.failed, summary.cancelled) == (1, 1)

    class Shown:
        content = summary_text(summary, cloud=None)

    assert "1 failed · 1 cancelled" in plain(Shown)
    statuses = [FeedFilter()]
    while True:
        statuses.append(statuses[-1].next_status())
        if statuses[-1].status is None:
            break
    assert "cancelled" in [f.status for f in statuses]
    assert [r.id for r in trace.recent(10, status="cancelled")] == ["r2"]
