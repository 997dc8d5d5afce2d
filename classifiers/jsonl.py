"""Reading JSONL files line by line, keeping every good line and naming every bad one."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from hybrid.errors import ClassifierError


@dataclass(frozen=True)
class LineError:
    """A rejected input line: its 1-based number and what is wrong with it."""

    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


def read_jsonl_objects(path: Path, errors: list[LineError]) -> Iterator[tuple[int, dict]]:
    """Yield ``(line_number, object)`` for each JSON object line; append the rest to ``errors``.

    Blank lines are skipped silently. A line that is not JSON, or JSON that is
    not an object, is recorded in ``errors`` and reading goes on.
    """
    try:
        f = path.open("rb")
    except OSError as e:
        raise ClassifierError(f"cannot read {path}: {e.strerror}; fix: check the path") from e
    with f:
        for number, raw in enumerate(f, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                errors.append(LineError(number, "not valid UTF-8"))
                continue
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                errors.append(LineError(number, f"not valid JSON ({e.msg})"))
                continue
            if not isinstance(obj, dict):
                errors.append(LineError(number, "not a JSON object"))
                continue
            yield number, obj
