"""Which open trace store owns an unfinished request, and whether that store is gone.

Each ``TraceStore`` writes its token into the rows it starts and holds an
exclusive ``flock`` on ``<trace.db>.owners/<token>`` while it is open. The
operating system releases the lock however the process ends (``kill -9``
included), so a lock that can be taken means the owner is gone; a fresh random
token per store makes a reused pid harmless.
"""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path

_OWNER_TOKEN = re.compile(r"\d+-[0-9a-f]{12}")


class OwnerLock:
    """A store's claim on the rows it starts. Without ``fcntl`` (Windows) no owner can be proven gone."""

    def __init__(self, db_path: Path) -> None:
        self.directory = db_path.with_name(db_path.name + ".owners")
        self.token = f"{os.getpid()}-{secrets.token_hex(6)}"
        self._fd: int | None = None
        fcntl = _fcntl()
        if fcntl is None:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.directory / self.token, os.O_CREAT | os.O_RDWR, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def release(self) -> None:
        if self._fd is not None:
            (self.directory / self.token).unlink(missing_ok=True)
            os.close(self._fd)
            self._fd = None

    def forget(self, owner: str) -> None:
        """Remove the lock file of an owner found gone (its rows are recovered)."""
        if _OWNER_TOKEN.fullmatch(owner):
            (self.directory / owner).unlink(missing_ok=True)

    def is_gone(self, owner: str | None) -> bool:
        """Whether the store that wrote ``owner`` has closed or its process has ended."""
        fcntl = _fcntl()
        if fcntl is None or owner == self.token:
            return False
        if owner is None:
            return True  # written before owners were recorded
        if not _OWNER_TOKEN.fullmatch(owner):
            return False
        try:
            fd = os.open(self.directory / owner, os.O_RDWR)
        except FileNotFoundError:
            return True
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        finally:
            os.close(fd)
        return True


def _fcntl():
    try:
        import fcntl
    except ImportError:
        return None
    return fcntl
