"""The labelled sets in ``../shared/data`` as :class:`~classifiers.data.Example` lists, with their licences.

Each set gives prompt-only items (a prompt and its weak/strong quality) and
answer-aware items (a draft answer too, and where a second cheap model
answered the same prompt, that answer as a further draft for agreement):

* ``mmlu_pro``: MMLU-Pro STEM (questions MIT, result files Apache-2.0). Weak =
  Mixtral-8x7B-Instruct correct, strong = gemini-1.5-pro correct; the draft is
  Mixtral's answer (Apache-2.0). Llama-3.1-8B's answers (Llama 3.1 Community
  Licence) are the second draft only when ``second_draft=True``: for evaluation
  and agreement experiments, never for training the shipped default.
* ``gsm8k``: GSM8K train (MIT). No model answers, so drafts are generated: the
  gold solution rewritten as a model would write it (kept, quality 1) and a
  corrupted copy of it (quality 0: a miscomputed step, a wrong final number, a
  solution cut off by the token limit, or one that stops before its answer).
* ``alpacaeval``: AlpacaEval preferences (data CC BY-NC 4.0, opt-in only). Weak
  = the small model's judged win probability against GPT-4-1106, strong = 1.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from hybrid.errors import ClassifierError

from .data import Example

ALPACAEVAL_FILE = "alpacaeval_preferences.jsonl"
MMLU_PRO_FILE = "mmlu_pro_stem.jsonl.gz"
GSM8K_FILE = "gsm8k_train.jsonl.gz"
#: Real SmolLM2-135M drafts of GSM8K problems, generated once by benchmarks/smollm2_drafts.py (in this repo).
SMOLLM2_FILE = "benchmarks/data/gsm8k_smollm2.jsonl.gz"
MMLU_WEAK = "Mixtral-8x7B-Instruct-v0.1"
MMLU_STRONG = "gemini-1.5-pro-002"
MMLU_SECOND = "Llama-3.1-8B-Instruct"
#: How many GSM8K problems get a gold and a corrupted draft (chosen by hash, stable).
GSM8K_PROBLEMS = 1200

LICENCES = {
    "mmlu_pro": (
        "MMLU-Pro (TIGER-AI-Lab/MMLU-Pro): questions MIT, result files Apache-2.0; answer texts by "
        "Mixtral-8x7B-Instruct-v0.1 (Apache-2.0)"
    ),
    "gsm8k": "GSM8K train split (openai/grade-school-math): MIT; drafts generated from its gold solutions",
    "alpacaeval": "AlpacaEval preferences (tatsu-lab/alpaca_eval): data CC BY-NC 4.0 (non-commercial use only)",
    "smollm2_gsm8k": "GSM8K questions (MIT) with drafts by SmolLM2-135M-Instruct (Apache-2.0), generated in this repo",
}
#: Sets whose answers have a checkable final answer (a letter, a number).
CHECKABLE = {"mmlu_pro": True, "gsm8k": True, "alpacaeval": False, "smollm2_gsm8k": True}


@dataclass(frozen=True)
class LabelledSet:
    """One shared data set: prompt-only items and answer-aware items."""

    name: str
    prompts: tuple[Example, ...]
    drafts: tuple[Example, ...]

    @property
    def licence(self) -> str:
        return LICENCES[self.name]

    @property
    def checkable(self) -> bool:
        return CHECKABLE[self.name]


def read_lines(path: Path) -> list[dict]:
    if not path.is_file():
        raise ClassifierError(f"{path} not found; fix: pass the folder that holds the shared data (../shared/data)")
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _hash01(text: str) -> float:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") / 2**64


def mmlu_pro(data_dir: Path, *, second_draft: bool = False) -> LabelledSet:
    prompts, drafts = [], []
    for row in read_lines(Path(data_dir) / MMLU_PRO_FILE):
        weak, strong = float(row["correct"][MMLU_WEAK]), float(row["correct"][MMLU_STRONG])
        common = {
            "group": str(row["id"]),
            "prompt": row["prompt"],
            "target": 1.0 - weak,
            "weak": weak,
            "strong": strong,
            "source": f"mmlu_pro:{row['src'].split('-')[0]}",
        }
        prompts.append(Example(**common))
        second = (row["responses"][MMLU_SECOND],) if second_draft else ()
        second_weak = (float(row["correct"][MMLU_SECOND]),) if second_draft else ()
        drafts.append(Example(**common, answer=row["responses"][MMLU_WEAK], answers=second, answers_weak=second_weak))
    return LabelledSet("mmlu_pro", tuple(prompts), tuple(drafts))


def alpacaeval(data_dir: Path, *, second_draft: bool = False) -> LabelledSet:
    """Prompt items use the mean win probability of the six small models; each answer is a draft item.

    With ``second_draft`` each answer's further draft is the next model's answer (models in name order).
    """
    prompts, drafts = [], []
    for row in read_lines(Path(data_dir) / ALPACAEVAL_FILE):
        wins = row["win_vs_gpt4_1106"]
        mean = sum(wins.values()) / len(wins)
        prompts.append(Example(str(row["id"]), row["prompt"], 1.0 - mean, weak=mean, source="alpacaeval"))
        models = sorted(wins)
        for i, model in enumerate(models):
            other_model = models[(i + 1) % len(models)]
            drafts.append(
                Example(
                    group=str(row["id"]),
                    prompt=row["prompt"],
                    target=1.0 - float(wins[model]),
                    answer=row["answers"][model],
                    answers=(row["answers"][other_model],) if second_draft else (),
                    answers_weak=(float(wins[other_model]),) if second_draft else (),
                    weak=float(wins[model]),
                    source=f"alpacaeval:{model}",
                )
            )
    return LabelledSet("alpacaeval", tuple(prompts), tuple(drafts))


_CALC = re.compile(r"<<([^=<>]*)=([^<>]*)>>")
_FINAL = re.compile(r"\n?####\s*(.+)\s*$")
_STEP = re.compile(r"(=\s*)(-?\d+(?:\.\d+)?)")


def gold_draft(solution: str, style: float) -> str:
    """A GSM8K solution as a model writes it: no ``<<calc>>`` marks, the final line in words or as ``####``."""
    text = _CALC.sub("", solution)
    final = _FINAL.search(text)
    if final and style < 0.5:
        text = text[: final.start()].rstrip() + f"\nThe answer is {final.group(1).strip()}."
    return text


def _shift(number: str, by: int) -> str:
    value = float(number) + by
    return str(int(value)) if value == int(value) else f"{value:g}"


def corrupt(solution: str, kind: float) -> tuple[str, str | None, str]:
    """A wrong copy of a gold draft: ``(text, finish_reason, how)``; ``kind`` in [0, 1) picks how."""
    final = _FINAL.search(solution) or re.search(r"The answer is (.+)\.$", solution)
    steps = list(_STEP.finditer(solution))
    if kind < 0.3 and steps:
        step = steps[int(kind / 0.3 * len(steps))]
        wrong = _shift(step.group(2), 1 + int(kind * 100) % 9)
        return solution[: step.start(2)] + wrong + solution[step.end(2) :], "stop", "miscomputed step"
    if kind < 0.55 and final:
        answer = final.group(1).strip().replace(",", "")
        if re.fullmatch(r"-?\d+(?:\.\d+)?", answer):
            wrong = _shift(answer, 2 + int(kind * 100) % 7)
            return solution[: final.start(1)] + wrong + solution[final.end(1) :], "stop", "wrong final number"
    if kind < 0.8:
        cut = solution.rfind(" ", 0, max(len(solution) // 2, 1))
        return solution[: max(cut, 1)], "length", "cut off"
    body = solution[: final.start()].rstrip() if final else solution
    sentences = re.split(r"(?<=[.!?])\s+", body)
    return " ".join(sentences[: max(len(sentences) - 1, 1)]), "stop", "stops before the answer"


def gsm8k(data_dir: Path, problems: int = GSM8K_PROBLEMS) -> LabelledSet:
    """A gold and a corrupted draft for ``problems`` GSM8K questions chosen by hash (no prompt-only items)."""
    rows = read_lines(Path(data_dir) / GSM8K_FILE)
    chosen = sorted(rows, key=lambda r: _hash01("gsm8k:" + r["question"]))[:problems]
    drafts = []
    for row in chosen:
        group = hashlib.sha256(row["question"].encode()).hexdigest()[:16]
        gold = gold_draft(row["answer"], _hash01("style:" + group))
        wrong, finish, how = corrupt(gold, _hash01("corrupt:" + group))
        drafts.append(Example(group, row["question"], 0.0, answer=gold, finish_reason="stop", source="gsm8k:gold"))
        drafts.append(
            Example(group, row["question"], 1.0, answer=wrong, finish_reason=finish, source=f"gsm8k:{how}")
        )
    return LabelledSet("gsm8k", (), tuple(drafts))


def smollm2_path() -> Path:
    return Path(__file__).resolve().parents[1] / SMOLLM2_FILE


def smollm2_gsm8k(data_dir: Path | None = None, *, second_draft: bool = False) -> LabelledSet:
    """Real drafts of the shipped local model: weak = its greedy draft was right, strong = 1 (the gold answer).

    With ``second_draft`` its sampled draft is the second one. Evaluation only (``data_dir`` is not used).
    """
    prompts, drafts = [], []
    for row in read_lines(smollm2_path()):
        group = hashlib.sha256(row["question"].encode()).hexdigest()[:16]
        (first, second), (right, right2) = row["drafts"], row["correct"]
        common = {"group": group, "prompt": row["question"], "target": 1.0 - right, "weak": float(right),
                  "source": "smollm2_gsm8k"}
        prompts.append(Example(**common))
        drafts.append(Example(**common, answer=first["text"], finish_reason=first["finish_reason"],
                              answers=(second["text"],) if second_draft else (),
                              answers_weak=(float(right2),) if second_draft else ()))
    return LabelledSet("smollm2_gsm8k", tuple(prompts), tuple(drafts))


LOADERS = {"mmlu_pro": mmlu_pro, "gsm8k": gsm8k, "alpacaeval": alpacaeval, "smollm2_gsm8k": smollm2_gsm8k}


def load_set(name: str, data_dir: Path, *, second_draft: bool = False) -> LabelledSet:
    if name not in LOADERS:
        raise ClassifierError(f"unknown data set {name!r}; fix: use one of {', '.join(LOADERS)}")
    if name == "gsm8k":
        return gsm8k(data_dir)
    return LOADERS[name](data_dir, second_draft=second_draft)
