"""The dashboard as a reader: untrusted text stays literal, and rows written by other processes appear."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from hybrid.trace import TraceStore
from tests.test_tui_app import plain, ready, row_ids, sync, until
from tui.app import HybridApp
from tui.text import clean, one_line
from tui.widgets.detail import DetailScreen

EVIL_PROMPT = "[bold red]x[/] [link=http://evil]y[/link] \x1b[31mred"
EVIL_OUTPUT = "[/]close [b]bold[/b] \x1b]8;;http://evil\x07link\x1b[0m"


def evil_trace(tmp_path) -> TraceStore:
    trace = TraceStore(tmp_path / "trace.db")
    trace.start_request("evil", task="chat", messages=[{"role": "user", "content": EVIL_PROMPT}], params={})
    trace.add_step("evil", "backend_call", backend="smollm2", input={"messages": [{"role": "user", "content": EVIL_PROMPT}]},
                   output={"text": EVIL_OUTPUT}, input_tokens=3, output_tokens=4, cost=0.0, duration_s=0.1)
    trace.update_request("evil", status="done", backend="[red]smollm2[/]", is_local=True, output=EVIL_OUTPUT,
                         reasons=["[bold]not a style[/bold]"], score=0.1, threshold=0.5, escalate=False)
    return trace


def app_over(trace: TraceStore, tmp_path) -> HybridApp:
    return HybridApp(trace, config_file=tmp_path / "config.toml", threshold=0.5, poll_interval=0.05)


def test_control_characters_become_visible():
    assert clean("a\x1b[31mb\x07") == "a␛[31mb␇"
    assert clean("line\nnext\ttab", multiline=True) == "line\nnext    tab"
    assert one_line("a\n b\x1b", 3) == "a …"


@sync
async def test_markup_and_escapes_in_the_trace_render_literally(tmp_path):
    trace = evil_trace(tmp_path)
    async with app_over(trace, tmp_path).run_test(size=(200, 40)) as pilot:
        table = await ready(pilot)
        prompt = table.get_cell("evil", "prompt")
        assert prompt.plain == "[bold red]x[/] [link=http://evil]y[/link] ␛[31mred"
        assert prompt.spans == [] and prompt.style == ""
        assert table.get_cell("evil", "backend").plain == "⌂ [red]smollm2[/]"
        screen_text = "".join(seg.text for strip in pilot.app.screen._compositor.render_strips() for seg in strip)
        assert "[bold red]x[/]" in screen_text and "\x1b" not in screen_text
        await pilot.press("enter")
        assert isinstance(pilot.app.screen, DetailScreen)
        await until(pilot, lambda: pilot.app.screen.loaded)
        text = plain(pilot.app.screen.query_one("#detail-body"))
        for literal in ("[bold red]x[/] [link=http://evil]y[/link] ␛[31mred", "[/]close [b]bold[/b] ␛]8;;http://evil␇link␛[0m",
                        "[bold]not a style[/bold]"):
            assert literal in text
        assert "\x1b" not in text


WRITER = textwrap.dedent(
    """
    import sys, time
    from hybrid.trace import TraceStore
    trace = TraceStore(sys.argv[1])
    for i in range(3):
        rid = f"other-process-{i}"
        trace.start_request(rid, task="chat", messages=[{"role": "user", "content": f"from elsewhere {i}"}], params={})
        trace.update_request(rid, status="done", backend="smollm2", is_local=True, latency_s=0.2, cost=0.0)
        time.sleep(0.05)
    trace.close()
    """
)


@sync
async def test_rows_written_by_another_process_appear(tmp_path):
    trace = TraceStore(tmp_path / "trace.db")
    trace.start_request("mine", task="chat", messages=[{"role": "user", "content": "written here"}], params={})
    async with app_over(trace, tmp_path).run_test(size=(120, 36)) as pilot:
        table = await ready(pilot)
        assert row_ids(table) == ["mine"]
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(trace.path)])
        try:
            await until(pilot, lambda: table.row_count == 4, timeout=15)
        finally:
            assert writer.wait(timeout=15) == 0
        await until(pilot, lambda: table.get_cell("other-process-2", "status").plain == "done")
        assert row_ids(table) == ["other-process-2", "other-process-1", "other-process-0", "mine"]
        assert table.get_cell("other-process-0", "prompt").plain == "from elsewhere 0"
