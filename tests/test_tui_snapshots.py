"""Snapshots of the dashboard over the fixed sample trace (fixed ids, timestamps, clock and time zone).

Regenerate after an intended change with ``pytest tests/test_tui_snapshots.py --snapshot-update``.
"""

from __future__ import annotations

import asyncio

from tui.sample import sample_app


async def _loaded(pilot) -> None:
    while not pilot.app.feed_ready:
        await asyncio.sleep(0.02)
    await pilot.pause()


async def _detail(pilot) -> None:
    await _loaded(pilot)
    await pilot.press("down", "down", "down", "down", "enter")
    while not getattr(pilot.app.screen, "loaded", False):
        await asyncio.sleep(0.02)
    await pilot.pause()


def test_dashboard_80x24(snap_compare, tmp_path):
    assert snap_compare(sample_app(tmp_path / "trace.db"), terminal_size=(80, 24), run_before=_loaded)


def test_dashboard_140x40(snap_compare, tmp_path):
    assert snap_compare(sample_app(tmp_path / "trace.db"), terminal_size=(140, 40), run_before=_loaded)


def test_detail_screen_100x40(snap_compare, tmp_path):
    assert snap_compare(sample_app(tmp_path / "trace.db"), terminal_size=(100, 40), run_before=_detail)
