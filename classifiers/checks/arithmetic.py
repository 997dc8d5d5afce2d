"""``arithmetic``: stated arithmetic that does not re-compute.

Finds equations whose sides are plain arithmetic on numbers (``48/2 = 24``, ``<<48/2=24>>``,
``3 × 4 = 12``, ``$1,200 * 5% = $60``, ``2^10 = 1024``, chains ``a + b = c = d``), evaluates both sides
with a whitelisted ``ast`` walk (numbers, + - * / and bounded powers; never ``eval``), and fires when a
side differs from its neighbour by more than rounding to the written precision allows.

Tolerance: the stated result may be rounded or truncated to its last written digit (``10/3 = 3.33``,
``2/3 = 0.66``); when the inputs are themselves rounded (decimals, percentages, powers) or the exact value
needs rounding, a drift of up to 1% is allowed; ``%`` may mean either a hundredth or the plain number
(``0.45 * 100 = 45%``). Equations with variables, units inside, functions, or more than ``MAX_OPERATORS``
operators are skipped: a check that cannot read an equation stays silent rather than guess.
"""

from __future__ import annotations

import ast
import itertools
import math
import re

from hybrid.types import CheckResult

from .text import quote

NAME = "arithmetic"

#: Characters of the answer scanned from each end.
SCAN_HEAD = 1500
SCAN_TAIL = 1500
#: Equations evaluated at most in the head, and again in the tail, of a long answer.
MAX_EQUATIONS = 10
#: Operators an expression may hold to be judged. Longer ones in model prose are mostly formulas with units and
#: precedence folded in ("5 \* 0.9 \* (1300 - 400) = 441.1 kJ"); judging them too raised the alarms on MMLU-Pro
#: drafts whose final answer is right from 1.4% to 3.0%.
MAX_OPERATORS = 2
#: Largest exponent and magnitude evaluated; anything bigger is skipped, not judged.
MAX_EXPONENT = 400
MAX_MAGNITUDE = 1e300

_NUM = r"\$?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:\\?%)?|\$?\.\d+(?:\\?%)?"
_OP = r"\*\*|\\\*|[-+*/×÷·∙−^]|\\times|\\cdot|\\div|(?<=\s)x(?=\s)"
_TERM = r"(?:\([ \t]*)*(?:[-−][ \t]*)?(?:" + _NUM + r")(?:[ \t]*\))*"
_SIDE = _TERM + r"(?:[ \t]*(?:" + _OP + r")[ \t]*" + _TERM + r")*"
_EQUATION = re.compile(
    # Not inside a word, a number or a longer expression ("S + 143 = ...", "1 1/2 = ...").
    r"(?<![\w.,:$^_\\/*+\-−×÷)}\]'’])(?<![-+*/×÷·−^\d][ \t])(?<!\sx[ \t])"
    r"(" + _SIDE + r"(?:[ \t]*=[ \t]*" + _SIDE + r")+)"
    # Not followed by more of a number, a variable, or an operator on something unreadable ("= 32 + x").
    r"(?!\.?\d|\.\.|,[ \t]*\d|[\w(^{\[%]|[ \t]+\d|[ \t]*(?:[-+*/×÷·−^(]|\\times|\\cdot))"
)
#: Words before an equation that make it part of a larger expression ("10% of (a - b) = c", "1 and 1/4 = ...").
_BOUND_BEFORE = re.compile(
    r"(?:\b(?:of|per|and|by|times|plus|minus|over|from)|[-+*/×÷·−^@})\]]|\\(?:cdot|times|div))[ \t]*$", re.IGNORECASE
)
#: Units after a result that rescale it ("$1 / 2 = 50 cents"): the equation is not plain arithmetic.
_RESCALED_AFTER = re.compile(r"[ \t]*(?:cents?|¢|thousand|million|billion|trillion|k|m|bn|mn)\b", re.IGNORECASE)
_LEADING_NUMBER = re.compile(r"[ \t]*(?:" + _NUM + r")")
_HAS_OP = re.compile(r"\d[ \t)]*(?:" + _OP + r")")
#: Scientific notation binds first: "0.05 / 5 × 10^-8" divides by 5e-8.
_SCIENTIFIC = re.compile(r"(\d+(?:\.\d+)?)[ \t]*(?:×|\\times|\*|x|\\cdot)[ \t]*10[ \t]*\^[ \t]*([-−]?\d+)")
_TIGHT_FRACTION = re.compile(r"(?<![\d.])(\d+(?:\.\d+)?/\d+(?:\.\d+)?)(?![\d.])")
_OPS_TO_PY = (
    ("\\times", "*"),
    ("\\cdot", "*"),
    ("\\div", "/"),
    ("\\*", "*"),
    ("×", "*"),
    ("·", "*"),
    ("∙", "*"),
    ("÷", "/"),
    ("−", "-"),
    ("^", "**"),
)
_PLAIN = re.compile(r"-?\d+(?:\.\d+)?|-?\.\d+")
_X_OP = re.compile(r"(?<=\s)x(?=\s)")
_PERCENT = re.compile(r"(\d+(?:\.\d+)?|\.\d+)%")
#: Inputs that are themselves rounded (decimals, percentages, powers): chained results drift, so allow 1%.
_ROUNDED_INPUT = re.compile(r"\d\.\d|%|\^|\*\*")
ROUNDED_DRIFT = 0.01


def _python(side: str, percent: str) -> str:
    # Scientific notation and fractions written tight bind first: "28 / 1/5" is 28 divided by a fifth.
    text = side.replace("$", "").replace(",", "").replace("\\%", "%").replace("−", "-")
    text = _TIGHT_FRACTION.sub(r"(\1)", _SCIENTIFIC.sub(r"(\1e\2)", text))
    for old, new in _OPS_TO_PY:
        text = text.replace(old, new)
    text = _X_OP.sub("*", text)
    return _PERCENT.sub(percent, text).strip()


def _evaluate(node: ast.AST) -> float:
    if isinstance(node, ast.Expression):
        return _evaluate(node.body)
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return float(node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        value = _evaluate(node.operand)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.BinOp):
        left, right = _evaluate(node.left), _evaluate(node.right)
        if isinstance(node.op, ast.Add):
            value = left + right
        elif isinstance(node.op, ast.Sub):
            value = left - right
        elif isinstance(node.op, ast.Mult):
            value = left * right
        elif isinstance(node.op, ast.Div):
            value = left / right  # ZeroDivisionError: the caller skips the equation
        elif isinstance(node.op, ast.Pow) and abs(right) <= MAX_EXPONENT:
            value = math.pow(left, right)  # OverflowError / ValueError: skipped
        else:
            raise ValueError("operator outside the whitelist")
        if not math.isfinite(value) or abs(value) > MAX_MAGNITUDE:
            raise OverflowError("too large to judge")
        return value
    raise ValueError(f"{type(node).__name__} outside the whitelist")


def evaluate(side: str) -> tuple[float, ...]:
    """The values ``side`` can mean (``%`` as a hundredth, then as the plain number); empty when unreadable."""
    plain = side.strip().lstrip("$").replace(",", "")
    if _PLAIN.fullmatch(plain):
        return (float(plain),)
    values = []
    for percent in (r"(\1/100)", r"\1") if "%" in side else ("",):
        try:
            values.append(_evaluate(ast.parse(_python(side, percent), mode="eval")))
        except (SyntaxError, ValueError, ZeroDivisionError, OverflowError, RecursionError):
            continue
    return tuple(values)


def _slack(side: str) -> float:
    """Rounding or truncating to a written number's last digit moves it by less than one unit of that digit."""
    digits = side.strip().rstrip("%").replace(",", "")
    decimals = len(digits) - digits.index(".") - 1 if "." in digits else 0
    return 10.0**-decimals


def _tolerance(left: str, right: str, value: float) -> float:
    """How far a stated side may sit from ``value`` (the left side re-computed) and still count as rounding."""
    slack = 0.0 if _HAS_OP.search(right) else _slack(right)
    exact_fits = slack == 0.0 or abs(value / slack - round(value / slack)) < 1e-6
    if _ROUNDED_INPUT.search(left) or _ROUNDED_INPUT.search(right) or not exact_fits:
        return max(slack, ROUNDED_DRIFT * abs(value), 1e-9)
    return max(slack, 1e-9 * abs(value), 1e-12)


def _wrong(left: str, right: str) -> float | None:
    """The re-computed left side when the right side does not match it; None when it does or cannot be read."""
    lvals, rvals = evaluate(left), evaluate(right)
    if not lvals or not rvals:
        return None
    if any(abs(a - b) < _tolerance(left, right, a) for a in lvals for b in rvals):
        return None
    # A running total "a + b = c x d = e" states its result as the first number of the next side.
    head = _LEADING_NUMBER.match(right)
    if (
        head
        and head.end() < len(right)
        and any(abs(a - b) < _tolerance(left, head.group(0), a) for a in lvals for b in evaluate(head.group(0)))
    ):
        return None
    return lvals[0]


def _number(value: float) -> str:
    return f"{value:.10g}" if value != int(value) or abs(value) >= 1e15 else str(int(value))


def mismatch(answer: str) -> str | None:
    """The first stated equation that does not re-compute, as a reason in words; None when all that can be read do."""
    if "=" not in answer:
        return None
    if len(answer) <= SCAN_HEAD + SCAN_TAIL:
        return _first_wrong(answer, 2 * MAX_EQUATIONS)
    return _first_wrong(answer[:SCAN_HEAD], MAX_EQUATIONS) or _first_wrong(answer[-SCAN_TAIL:], MAX_EQUATIONS)


def _first_wrong(text: str, limit: int) -> str | None:
    for count, match in enumerate(_EQUATION.finditer(text)):
        if count >= limit:
            break
        before = text[max(0, match.start() - 12) : match.start()]
        if _BOUND_BEFORE.search(before) or _RESCALED_AFTER.match(text, match.end()):
            continue
        if match.group(1).lstrip("( \t").startswith(("-", "−")) and before.rstrip()[-1:].isalnum():
            continue  # "rate - $45 = ..." subtracts from a word, not a negative number
        sides = [s.strip() for s in match.group(1).split("=")]
        for left, right in itertools.pairwise(sides):
            # "a op b = c" states a result; "c = a op b" is usually a variable's value ("Remaining 10 = 62,300/10").
            operators = len(_HAS_OP.findall(left))
            if operators == 0 or operators > MAX_OPERATORS:
                continue
            value = _wrong(left, right)
            if value is not None:
                shown = f"{quote(left, 40)} = {quote(right, 40)}"
                return f"stated arithmetic {shown} does not re-compute ({quote(left, 40)} = {_number(value)})"
    return None


def check(prompt: str, answer: str, finish_reason: str | None = None) -> CheckResult:
    reason = mismatch(answer)
    return CheckResult(NAME, reason is not None, reason or "")
