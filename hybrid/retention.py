"""Trace retention: delete whole request trees by age and by size, then give the space back.

Rules:
- ``keep_days``: a request older than this goes, unless it is an ancestor of a request that stays (a pipeline
  run stays as long as any of its steps does), so every kept request keeps its parent chain.
- ``max_mb``: when the live data passes the limit, the oldest trees go until it is under 90% of it.
- A request goes with all its rows (steps, feedback); texts no remaining row refers to go too. A kept
  request keeps every row it had.
- The file then shrinks: ``PRAGMA incremental_vacuum`` on stores created with incremental auto-vacuum,
  a full ``VACUUM`` (which also switches them to incremental) on older ones.

Runs on one connection, outside any open transaction; the SQL is portable but for the PRAGMAs.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from hybrid.trace_texts import REF_PATTERN

MIB = 1024 * 1024
SIZE_TARGET = 0.9

_DOOMED = """
INSERT INTO doomed (id)
SELECT id FROM requests WHERE created_at < ? AND id NOT IN (
    WITH RECURSIVE kept(id) AS (
        SELECT parent_id FROM requests WHERE created_at >= ? AND parent_id IS NOT NULL
        UNION
        SELECT r.parent_id FROM requests r JOIN kept k ON r.id = k.id WHERE r.parent_id IS NOT NULL
    )
    SELECT id FROM kept
)
"""


@dataclass(frozen=True)
class Pruned:
    requests: int
    texts: int
    bytes_before: int
    bytes_after: int

    def describe(self) -> str:
        return (f"pruned {self.requests} requests and {self.texts} texts; "
                f"{self.bytes_before / MIB:.2f} MiB -> {self.bytes_after / MIB:.2f} MiB")

    def then(self, later: Pruned) -> Pruned:
        """This prune followed by ``later``: both counts, from this one's size before to ``later``'s after."""
        return Pruned(self.requests + later.requests, self.texts + later.texts, self.bytes_before, later.bytes_after)


def file_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())


def live_bytes(db: sqlite3.Connection) -> int:
    pages = db.execute("PRAGMA page_count").fetchone()[0] - db.execute("PRAGMA freelist_count").fetchone()[0]
    return pages * db.execute("PRAGMA page_size").fetchone()[0]


def needed(db: sqlite3.Connection, path: Path, *, keep_days: float | None, max_mb: float | None) -> bool:
    """Cheap: is the store past either limit?"""
    if max_mb is not None and file_bytes(path) > max_mb * MIB:
        return True
    if keep_days is None:
        return False
    oldest = db.execute("SELECT MIN(created_at) FROM requests").fetchone()[0]
    return oldest is not None and oldest < time.time() - keep_days * 86400


def _delete_before(db: sqlite3.Connection, cutoff: float) -> int:
    db.execute("BEGIN IMMEDIATE")
    try:
        db.execute("CREATE TEMPORARY TABLE IF NOT EXISTS doomed (id TEXT PRIMARY KEY)")
        db.execute("DELETE FROM doomed")
        db.execute(_DOOMED, (cutoff, cutoff))
        db.execute("DELETE FROM steps WHERE request_id IN (SELECT id FROM doomed)")
        db.execute("DELETE FROM feedback WHERE request_id IN (SELECT id FROM doomed)")
        count = db.execute("DELETE FROM requests WHERE id IN (SELECT id FROM doomed)").rowcount
        db.execute("COMMIT")
        return count
    except BaseException:
        db.execute("ROLLBACK")
        raise


def _delete_orphan_texts(db: sqlite3.Connection) -> int:
    db.execute("BEGIN IMMEDIATE")
    try:
        used: set[str] = set()
        for sql in ("SELECT prompt, output, messages, params, metadata, reasons FROM requests",
                    "SELECT input, output FROM steps"):
            for row in db.execute(sql):
                for value in row:
                    if value:
                        used.update(REF_PATTERN.findall(value))
        orphans = [h for (h,) in db.execute("SELECT hash FROM texts") if h not in used]
        for i in range(0, len(orphans), 500):
            chunk = orphans[i : i + 500]
            db.execute(f"DELETE FROM texts WHERE hash IN ({', '.join('?' * len(chunk))})", chunk)
        db.execute("COMMIT")
        return len(orphans)
    except BaseException:
        db.execute("ROLLBACK")
        raise


def _size_cutoff(db: sqlite3.Connection, max_mb: float) -> float | None:
    """The creation time before which requests must go to bring the live data under the size target."""
    used = live_bytes(db)
    limit = max_mb * MIB * SIZE_TARGET
    count = db.execute("SELECT COUNT(*) FROM requests").fetchone()[0]
    if used <= max_mb * MIB or count == 0:
        return None
    drop = min(count, max(1, int((used - limit) / (used / count)) + 1))
    row = db.execute("SELECT created_at FROM requests ORDER BY created_at LIMIT 1 OFFSET ?", (drop - 1,)).fetchone()
    return None if row is None else row[0] + 1e-6


def shrink(db: sqlite3.Connection) -> None:
    if db.execute("PRAGMA auto_vacuum").fetchone()[0] == 2:
        # Python's sqlite3 steps a row-less PRAGMA once, and each step of incremental_vacuum frees one page.
        db.execute("BEGIN IMMEDIATE")
        for _ in range(db.execute("PRAGMA freelist_count").fetchone()[0]):
            db.execute("PRAGMA incremental_vacuum")
        db.execute("COMMIT")
    else:
        db.execute("PRAGMA auto_vacuum = INCREMENTAL")
        db.execute("VACUUM")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()


def prune(
    db: sqlite3.Connection, path: Path, *, keep_days: float | None, max_mb: float | None, now: float | None = None
) -> Pruned:
    before = file_bytes(path)
    requests = 0
    if keep_days is not None:
        requests += _delete_before(db, (time.time() if now is None else now) - keep_days * 86400)
    texts = _delete_orphan_texts(db)
    for _ in range(5 if max_mb is not None else 0):
        cutoff = _size_cutoff(db, max_mb)
        if cutoff is None:
            break
        deleted = _delete_before(db, cutoff)
        texts += _delete_orphan_texts(db)
        requests += deleted
        if deleted == 0:
            break
    shrink(db)
    return Pruned(requests, texts, before, file_bytes(path))
