"""``language``: the draft answers in a different language or script from the prompt.

Cheap and conservative:

* script: the share of letters in each Unicode script (Latin, Cyrillic, Greek, Arabic, Hebrew, Devanagari,
  Han/Kana, Hangul, Thai), counted with one regex per script over the prose (code blocks removed);
* Latin-script languages: hits on short stopword lists for English, French, Spanish, German, Italian,
  Portuguese and Dutch, with words shared between them left out.

It stays silent when either text has fewer than ``MIN_LETTERS`` letters (or ``MIN_WORDS`` words for the
stopword test), when either side is not clearly one script or language, and when the prompt's instructions
(its first 1,000 and last 500 characters) ask to translate or name a language.
"""

from __future__ import annotations

import re

from hybrid.types import CheckResult

from .text import ANSWER_HEAD, PROMPT_HEAD, ends, without_code

NAME = "language"

#: Characters of prose (code blocks removed) read from each text.
SAMPLE = 600
MIN_LETTERS = 40
MIN_WORDS = 12
#: A text "is" a script or a language when it takes at least this share of what was counted.
DOMINANT = 0.7
#: Stopword hits needed before a Latin-script text is given a language.
MIN_HITS = 4

SCRIPTS = {
    "Latin": re.compile(r"[A-Za-z\u00C0-\u024F]"),
    "Cyrillic": re.compile(r"[\u0400-\u04FF]"),
    "Greek": re.compile(r"[\u0370-\u03FF]"),
    "Arabic": re.compile(r"[\u0600-\u06FF]"),
    "Hebrew": re.compile(r"[\u0590-\u05FF]"),
    "Devanagari": re.compile(r"[\u0900-\u097F]"),
    "CJK": re.compile(r"[\u3040-\u30FF\u3400-\u4DBF\u4E00-\u9FFF]"),
    "Hangul": re.compile(r"[\uAC00-\uD7AF\u1100-\u11FF]"),
    "Thai": re.compile(r"[\u0E00-\u0E7F]"),
}
# Words frequent in one language and absent (or rare) as words in the others listed.
STOPWORDS = {
    "English": "the and is are was were this that with have has for not you what which from they there would",
    "French": "le les est une des du et pour pas que qui avec sur dans sont mais nous vous cette ce être",
    "Spanish": "el los las es una del para por que con sus pero como está son más esta muy también",
    "German": "der die das und ist nicht ein eine mit auf für sich dem den von zu auch wird sind",
    "Italian": "il gli della che è non una sono con del alla anche come questo più nel",
    "Portuguese": "os uma não é para com que do da dos das são também mais como pelo pela",
    "Dutch": "de het een van en is niet dat met voor zijn op ook maar wordt bij naar",
}
_WORDS = {lang: frozenset(words.split()) for lang, words in STOPWORDS.items()}
_WORD = re.compile(r"[^\W\d_]{2,}")
_LETTER = re.compile(r"[^\W\d_]")
#: A prompt that names a language or asks to translate may want an answer in another language.
_LANGUAGE_CUES = (
    "english", "french", "spanish", "german", "italian", "portuguese", "dutch", "russian", "chinese", "japanese",
    "korean", "arabic", "hindi", "hebrew", "greek", "thai", "translat", "tradu", "übersetz", "language",
)  # fmt: skip


def script_of(text: str) -> str | None:
    """The script most of the text's letters are in, or None when too few letters or none dominates."""
    letters = len(_LETTER.findall(text))
    if letters < MIN_LETTERS:
        return None
    if len(SCRIPTS["Latin"].findall(text)) >= DOMINANT * letters:
        return "Latin"
    counts = {name: len(rx.findall(text)) for name, rx in SCRIPTS.items() if name != "Latin"}
    name = max(counts, key=counts.__getitem__)
    return name if counts[name] >= DOMINANT * letters else None


def latin_language_of(text: str) -> str | None:
    """Which of the listed Latin-script languages the text is in, by stopword hits; None when unclear."""
    words = [w.lower() for w in _WORD.findall(text)]
    if len(words) < MIN_WORDS:
        return None
    hits = {lang: sum(w in vocab for w in words) for lang, vocab in _WORDS.items()}
    total = sum(hits.values())
    lang = max(hits, key=hits.__getitem__)
    return lang if hits[lang] >= MIN_HITS and hits[lang] >= DOMINANT * total else None


def language_of(text: str) -> str | None:
    """A Latin-script language name, another script's name, or None when the text does not say clearly."""
    script = script_of(text)
    if script == "Latin":
        return latin_language_of(text)
    return script


def check(prompt: str, answer: str, finish_reason: str | None = None) -> CheckResult:
    instructions = ends(prompt, 1000, 500).lower()
    if any(cue in instructions for cue in _LANGUAGE_CUES):
        return CheckResult(NAME, False)
    asked = language_of(without_code(prompt[:PROMPT_HEAD])[:SAMPLE])
    if asked is None:
        return CheckResult(NAME, False)
    answered = language_of(without_code(answer[:ANSWER_HEAD])[:SAMPLE])
    if answered is None or answered == asked:
        return CheckResult(NAME, False)
    return CheckResult(NAME, True, f"draft is in {answered}, the prompt in {asked}")
