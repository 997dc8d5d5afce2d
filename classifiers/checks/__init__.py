"""Answer checks: small fixed rules that say when a local draft looks wrong, and why, in words.

Each check is a module with ``NAME`` and one function
``check(prompt, answer, finish_reason=None) -> hybrid.types.CheckResult``; ``fired=True`` means the draft
looks wrong and ``reason`` says why ("draft cut off inside a python code block"). They are rules that hold
for any model, not weights learned from a judge, and each reads a capped slice of the texts so that all of
them together fit inside a routing decision.

=============== ==================================================================================
``cut_off``      finish_reason = length, an unclosed code fence, or a sentence left unfinished
``final_answer`` no letter / number / JSON where the prompt asks for one (see :mod:`.prompt_kind`)
``arithmetic``   stated arithmetic that does not re-compute (``48/2 = 25``)
``unsupported_answer`` a worked maths answer whose final number appears nowhere in its working
``code_parses``  a Python block that ``ast.parse`` rejects; JSON that does not parse
``refusal``      a refusal or apology instead of an answer
``repetition``   a draft that loops
``language``     an answer in another language or script than the prompt
=============== ==================================================================================

    run_checks(prompt, answer, finish_reason=None) -> tuple[CheckResult, ...]   # one per check, in ALL_CHECKS order
    fired(results) -> tuple[CheckResult, ...]                                     # only those that fired
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from hybrid.types import CheckResult

from . import arithmetic, code_parses, cut_off, final_answer, language, refusal, repetition, unsupported

Check = Callable[..., CheckResult]

#: Every check, in the order results are reported.
ALL_CHECKS: tuple[Check, ...] = (
    cut_off.check,
    final_answer.check,
    arithmetic.check,
    unsupported.check,
    code_parses.check,
    refusal.check,
    repetition.check,
    language.check,
)
CHECK_NAMES: tuple[str, ...] = (
    cut_off.NAME,
    final_answer.NAME,
    arithmetic.NAME,
    unsupported.NAME,
    code_parses.NAME,
    refusal.NAME,
    repetition.NAME,
    language.NAME,
)


def run_checks(prompt: str, answer: str, finish_reason: str | None = None) -> tuple[CheckResult, ...]:
    """Every check's verdict on ``answer`` to ``prompt``, one per check in :data:`ALL_CHECKS` order."""
    return tuple(check(prompt, answer, finish_reason) for check in ALL_CHECKS)


def fired(results: Iterable[CheckResult]) -> tuple[CheckResult, ...]:
    return tuple(r for r in results if r.fired)


__all__ = ["ALL_CHECKS", "CHECK_NAMES", "Check", "fired", "run_checks"]
