"""Answer checks on real drafts: true positives from the shared data, and no alarm on correct answers.

Snippets are pasted from ../shared/data (GSM8K gold solutions, MMLU-Pro drafts of Mixtral-8x7B and
Llama-3.1-8B, AlpacaEval answers); the ``*_false_alarms`` tests read the files themselves.
"""

from __future__ import annotations

import pytest

from classifiers.checks import (
    ALL_CHECKS,
    CHECK_NAMES,
    arithmetic,
    code_parses,
    cut_off,
    final_answer,
    fired,
    language,
    refusal,
    repetition,
    run_checks,
    unsupported,
)
from classifiers.checks.extract import final_json, final_letter, final_number
from classifiers.checks.prompt_kind import JSON, MATH, MULTIPLE_CHOICE, OPEN, option_letters, prompt_kind

# GSM8K train, first problem, gold solution.
NATALIA_Q = (
    "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. "
    "How many clips did Natalia sell altogether in April and May?"
)
NATALIA_GOLD = (
    "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\n"
    "Natalia sold 48+24 = <<48+24=72>>72 clips altogether in April and May.\n#### 72"
)
# MMLU-Pro mmlupro-97: both models right, (F).
TAPE_Q = (
    "What is the net cost of a tape recorder whose list price is $32 and on which the discount rate is 30%?\n"
    "A. $20.00\nB. $30.00\nC. $18.40\nD. $24.00\nE. $32.00\nF. $22.40\nG. $9.60\nH. $10.00\nI. $26.40\nJ. $28.00"
)
TAPE_MIXTRAL = (
    " We refer to Wikipedia articles on marketing for help. The net cost of a tape recorder whose list price is $32"
    " and on which the discount rate is 30% is $32 \\* (1 - 0.3) = $22.40. The answer is (F).\n\n"
)
TAPE_LLAMA = (
    " The net cost of a tape recorder is the list price minus the discount. The list price is $32 and the discount"
    " rate is 30%. The discount is $32 x 0.30 = $9.60. The net cost is $32 - $9.60 = $22.40. The answer is (F).\n\n"
)
# MMLU-Pro mmlupro-137: Mixtral wrong, with no letter; Llama wrong with (B).
STOCK_Q = (
    "CheckMate forecasts that its dividend will grow at 20% per year for the next four years before settling down"
    " at a constant 8% forever. Dividend (current year,2016) = $12; expected rate of return = 15%. What is the fair"
    " value of the stock now?\nA. 280.0\nB. 305.0\nC. 290.0\nD. 250.0\nE. 320.0\nF. 273.0\nG. 260.0\nH. 315.0\n"
    "I. 300.0\nJ. 265.0"
)
STOCK_MIXTRAL = (
    " We refer to Wikipedia articles on finance for help. The fair value of the stock can be calculated by the"
    " formula:\n\nFair value = D1 / (r - g)\n\nwhere D1 is the dividend in the next year, r is the expected rate of"
    " return, and g is the constant growth rate.\n\nD1 = D0 \\* (1 + g) = 12 \\* (1 + 0.2) = 14.4\n\n"
    "Fair value = 14.4 / (0.15 - 0.08) = 360\n\nThe answer is not in the options.\n\n"
)
# A Llama-3.1-8B draft MMLU-Pro marked correct only because its scorer guessed at random: it loops and breaks off.
LLAMA_LOOP = (
    " We refer to Wikipedia articles on accounting for help. The net gain is the selling price per unit minus"
    " $209,000 divided by 0.80."
    + " The net gain is the selling price per unit minus $209,000 divided by 0.80." * 6
    + " The net gain is the selling price per unit minus $209,000 divided by"
)
# A Mixtral draft cut off by the token limit, ending on a number.
MIXTRAL_ENDS_ON_NUMBER = (
    "The total power is given by P_1 + P_2 + P_m, where P_m is the mechanical power, which gives 1570 W."
    " The efficiency is given by P_out / P_in, which gives 0.7"
)


# Real drafts of the shipped SmolLM2-135M-Instruct (llama.cpp, temperature 0).
SMOL_PRIME_Q = "Write a Python function that checks whether a number is prime."
SMOL_PRIME = (  # max_tokens=60, finish_reason "length"
    "```python\ndef is_prime(n):\n    if isinstance(n, int) and n > 2:\n        return False\n"
    "    if isinstance(n, bool) and n % 2 == 0:\n        return False\n    if isinstance(n, int) and n > 1"
)
SMOL_FRANCE = (
    "La France, la France. La France is the capital of France, and it's a city that's steeped in history and"
    " culture. It's a vibrant and bustling metropolis that's home to iconic landmarks like Notre Dame de la"
    " Concorde, the Eiffel Tower, and the Louvre Museum."
)
SMOL_NATALIA = (
    "Natalia sold 48 clips in April, and she sold half of them in May. So, she sold 48/2 = 16 clips in April.\n"
    "In May, she sold 16/5 = 3 clips.\n#### 3\nThe answer is: 3"
)
JANET_Q = (
    "Janet’s ducks lay 16 eggs per day. She eats three for breakfast every morning and bakes muffins for her"
    " friends every day with four. She sells the remainder at the farmers' market daily for $2 per fresh duck egg."
    " How much in dollars does she make every day at the farmers' market?"
)
SMOL_JANET = (  # max_tokens=200, finish_reason "length"
    "Janet lays 16 eggs per day, so she lays 16 x 3 = 48 eggs per day.\n"
    "She eats three for breakfast every morning, so she eats 48 x 3 = 184 eggs per day.\n"
    "She bakes muffins for her friends every day with four, so she bakes 184 x 4 = 720 muffins per day.\n"
    "She makes 10800 x 4 = 40400 dollars per day.\nShe makes 10800 x 4 = 40400 dollars per day.\nShe makes "
)


def test_real_smollm2_drafts_fail_the_checks_with_reasons():
    assert _fired_names(SMOL_PRIME_Q, SMOL_PRIME, "length") == {"cut_off"}
    natalia = {r.name: r.reason for r in fired(run_checks(NATALIA_Q, SMOL_NATALIA, "stop"))}
    assert natalia == {"arithmetic": "stated arithmetic 48/2 = 16 does not re-compute (48/2 = 24)"}
    janet = {r.name: r.reason for r in fired(run_checks(JANET_Q, SMOL_JANET, "length"))}
    assert janet["arithmetic"] == "stated arithmetic 48 x 3 = 184 does not re-compute (48 x 3 = 144)"
    assert janet["cut_off"] == "draft stopped at the token limit (finish_reason = length)"


def test_a_wrong_answer_in_the_right_shape_passes_the_checks():
    # SmolLM2 on "Capital of France?": wrong, but nothing a fixed rule can call wrong honestly (no letter, number
    # or JSON was asked for, nothing is cut off, repeated or miscomputed). Agreement with a second draft and the
    # learned score have to catch it (tests/test_agreement.py).
    assert _fired_names("Capital of France?", SMOL_FRANCE, "stop") == set()


def _fired_names(prompt: str, answer: str, finish_reason: str | None = None) -> set[str]:
    return {r.name for r in fired(run_checks(prompt, answer, finish_reason))}


# -- the suite -------------------------------------------------------------------------------------------------


def test_run_checks_reports_every_check_in_order():
    results = run_checks(NATALIA_Q, NATALIA_GOLD)
    assert tuple(r.name for r in results) == CHECK_NAMES
    assert len(ALL_CHECKS) == len(CHECK_NAMES) == 8
    assert fired(results) == ()
    assert all(r.reason == "" for r in results)


@pytest.mark.parametrize(
    ("prompt", "answer"),
    [(NATALIA_Q, NATALIA_GOLD), (TAPE_Q, TAPE_MIXTRAL), (TAPE_Q, TAPE_LLAMA)],
    ids=["gsm8k-gold", "mmlu-mixtral-right", "mmlu-llama-right"],
)
def test_correct_answers_raise_no_alarm(prompt, answer):
    assert _fired_names(prompt, answer, "stop") == set()


# -- prompt kinds and extraction ------------------------------------------------------------------------------


def test_prompt_kinds_of_real_prompts():
    assert prompt_kind(NATALIA_Q) == MATH
    assert prompt_kind(TAPE_Q) == MULTIPLE_CHOICE
    assert option_letters(TAPE_Q) == "ABCDEFGHIJ"
    assert prompt_kind("Capital of France?") == OPEN
    assert prompt_kind("Extract the name and age from this text and return them as JSON: Ann is 31.") == JSON
    # AlpacaEval: asks for a script, not for JSON output.
    assert prompt_kind("write me script that shows the saves a dictionnary in json format in a file in python") == OPEN


def test_final_answers_are_extracted():
    assert final_letter(TAPE_MIXTRAL, "ABCDEFGHIJ") == "F"
    assert final_letter(STOCK_MIXTRAL, "ABCDEFGHIJ") is None
    assert final_letter("**Answer: C**") == "C"
    assert final_number(NATALIA_GOLD) == "72"
    assert final_number("So she makes 9 * $2 = $18 every day.\n#### 1,200.0") == "1200"
    assert final_json('Here it is:\n```json\n{"name": "Ann", "age": 31}\n```') == {"name": "Ann", "age": 31}


# -- cut_off --------------------------------------------------------------------------------------------------


def test_cut_off_fires_on_the_token_limit():
    result = cut_off.check(TAPE_Q, TAPE_MIXTRAL, "length")
    assert result.fired and "token limit" in result.reason
    anthropic = cut_off.check(TAPE_Q, TAPE_MIXTRAL, "max_tokens")  # the Messages API's word, in a label line
    assert anthropic.fired and anthropic.reason == "draft stopped at the token limit (finish_reason = max_tokens)"
    assert not cut_off.check(TAPE_Q, TAPE_MIXTRAL, "stop").fired


def test_cut_off_fires_mid_sentence_on_a_real_draft():
    result = cut_off.check(TAPE_Q, LLAMA_LOOP)
    assert result.fired
    assert "mid-sentence" in result.reason and "divided by" in result.reason


def test_cut_off_fires_inside_a_code_block():
    result = cut_off.check(SMOL_PRIME_Q, SMOL_PRIME)
    assert result.fired and result.reason == "draft cut off inside a python code block (its ``` fence is never closed)"
    assert cut_off.check(SMOL_PRIME_Q, SMOL_PRIME, "length").reason.startswith("draft stopped at the token limit")


@pytest.mark.parametrize(
    "answer",
    [
        MIXTRAL_ENDS_ON_NUMBER,  # a final number is not an unfinished sentence
        NATALIA_GOLD,
        "1. Eiffel Tower\n2. Louvre Museum\n3. Notre-Dame Cathedral",
        "## Summary\n\n- Paris is the capital\n- It lies on the Seine",
        "```python\nprint('hi')\n```",
        "The answer is (B)",
        "Paris",
        "what we have looked forward to\nwhat we have envisaged\nwhat we have hoped for",  # AlpacaEval, GPT-4
    ],
)
def test_cut_off_stays_silent_on_finished_shapes(answer):
    assert not cut_off.check("Q?", answer).fired


# -- final_answer ---------------------------------------------------------------------------------------------


def test_final_answer_fires_when_a_real_draft_names_no_option():
    result = final_answer.check(STOCK_Q, STOCK_MIXTRAL)
    assert result.fired
    assert result.reason == "no final answer: the question lists options A–J and the draft names none"


def test_final_answer_fires_when_a_word_problem_ends_on_no_number():
    result = final_answer.check(NATALIA_Q, "Natalia sold clips in April and in May, so she sold more in April.")
    assert result.fired and "number" in result.reason


def test_final_answer_fires_when_json_is_asked_and_missing():
    prompt = "Extract the name and age from this text and return them as JSON: Ann is 31."
    assert final_answer.check(prompt, "The name is Ann and she is 31.").fired
    assert not final_answer.check(prompt, '{"name": "Ann", "age": 31}').fired


def test_final_answer_asks_nothing_of_an_open_question():
    assert not final_answer.check("Capital of France?", SMOL_FRANCE).fired


# -- arithmetic -----------------------------------------------------------------------------------------------


def test_arithmetic_fires_on_a_changed_result():
    wrong = NATALIA_GOLD.replace("<<48/2=24>>24", "<<48/2=25>>25")
    result = arithmetic.check(NATALIA_Q, wrong)
    assert result.fired
    assert result.reason == "stated arithmetic 48/2 = 25 does not re-compute (48/2 = 24)"


def test_arithmetic_fires_on_real_slips():
    # GSM8K gold has a few slips of its own; MMLU-Pro drafts have more.
    assert arithmetic.check("", "It also cost 50*2=$100 per minute to film\nSo it cost 192*100=$1920\n#### 1920").fired
    assert arithmetic.check(
        "", "The range is the difference between the largest and smallest values, which is 17-9=9."
    ).fired
    assert arithmetic.check("", "The total inventory is $11,058 + $930 = $12,000. The answer is (C).").fired
    assert arithmetic.check("", "3 × 4 = 13").fired


@pytest.mark.parametrize(
    "answer",
    [
        NATALIA_GOLD,
        TAPE_MIXTRAL,  # $32 \* (1 - 0.3) = $22.40
        TAPE_LLAMA,  # $32 x 0.30 = $9.60
        "There are 80/100 * 10 = <<80/100*10=8>>8 more purple flowers than yellow flowers.",
        "10/3 = 3.33 and 2/3 = 0.66",  # rounded and truncated to the written digit
        "0.45 * 100 = 45%",
        "Marco gets 28 / 1/5 = 28 * 5 = 140 cups of tea from a box.",  # GSM8K: a tight fraction binds first
        "Bryan spends M + 4 + 2 = 8 hours a day.",  # algebra, not a stated sum
        "he needs 2 + 1 1/2 = 3 1/2 square feet of wrapping paper",  # mixed numbers
        "He spends 50 cents because $1 / 2 = 50 cents",  # a unit rescales the result
        "2x + 3 = 7",
    ],
)
def test_arithmetic_stays_silent_on_correct_or_unreadable_equations(answer):
    assert not arithmetic.check("", answer).fired


def test_arithmetic_evaluates_without_eval():
    assert arithmetic.evaluate("__import__('os').system('true')") == ()
    assert arithmetic.evaluate("9 ^ 9 ^ 9") == ()  # bounded exponent: skipped, not computed
    assert arithmetic.evaluate("1 / 0") == ()


# -- unsupported_answer ---------------------------------------------------------------------------------------

QUIZ_Q = (
    "Students at Highridge High earn 2 points for each correct answer during a quiz bowl If a student correctly "
    "answers all the questions in a round, the student is awarded an additional 4 point bonus. They played a total "
    "of five rounds each consisting of five questions. If James only missed one question, how many points did he get?"
)
# GSM8K train's own gold solution to it: the working ends on 64, the final line says 66.
QUIZ_GOLD_SLIP = (
    "If James only missed one question in all five rounds of five questions, he correctly answered 5 * 5 - 1 = "
    "<<5*5-1=24>>24 questions\nBefore the bonus, James earned 24 correct answers * 2 points/answer = <<24*2=48>>48 "
    "points.\nSince missing one question would only disqualify him from receiving a bonus in one round, he would "
    "earn a bonus for 5-1=<<5-1=4>>4 rounds.\nHe should expect a bonus of 4 rounds* 4 points/round= <<4*4=16>>16 "
    "points.\nIncluding his bonus, James scored a total of 48 + 16 = <<48+16=64>>64 points.\n#### 66"
)


def test_unsupported_answer_fires_when_the_final_number_is_not_in_the_working():
    result = unsupported.check(QUIZ_Q, QUIZ_GOLD_SLIP)
    assert result.fired
    assert result.reason == "the final answer 66 appears nowhere in the draft's working or the question"
    assert unsupported.check(NATALIA_Q, NATALIA_GOLD.replace("#### 72", "The answer is 96.")).fired


@pytest.mark.parametrize(
    ("prompt", "answer"),
    [
        (NATALIA_Q, NATALIA_GOLD),
        (NATALIA_Q, NATALIA_GOLD.replace("#### 72", "The answer is 72.")),
        (NATALIA_Q, "The answer is 72."),  # no working to compare with
        (NATALIA_Q, "She sold 24 clips in May.\nShe sold 72 clips altogether."),  # no marked final answer
        # A unit written onto the number, and an amount restated in hundredths (GSM8K gold solutions).
        (NATALIA_Q, "2 wheels * 10ml of oil per wheel = 20ml of oil.\nShe needs 20 + 5 = 25ml of oil.\n#### 25"),
        (NATALIA_Q, "6/12 = $0.50 a can, .50-.25 = $0.25 more expensive per can\n#### 25"),
        (NATALIA_Q, "10 / 3 = 33.33 per friend, so 33.33 rounds to\nThe answer is 33."),
        (TAPE_Q, TAPE_MIXTRAL),  # not a word problem: multiple choice has its own checks
        ("Capital of France?", "It has 2 airports and 20 districts. The answer is Paris."),
    ],
)
def test_unsupported_answer_stays_silent_on_supported_or_unworked_answers(prompt, answer):
    assert not unsupported.check(prompt, answer).fired


# -- code_parses ----------------------------------------------------------------------------------------------


def test_code_parses_fires_on_a_real_python_block_that_does_not_parse():
    # AlpacaEval, FuseChat-Qwen-2.5-7B asked to fix the bug repeats it.
    draft = '```python\nfor i in range(10)\n    print("Answer is:")\n    print(i)\n```'
    result = code_parses.check("Identify and fix bugs in the given code and rewrite it", draft)
    assert result.fired and result.reason == "python code block does not parse: expected ':' at line 1"


def test_code_parses_reads_blocks_indented_in_a_list():
    # AlpacaEval, FuseChat-Qwen-2.5-7B: a valid block inside a numbered list item.
    draft = (
        "1. Use numpy:\n   ```python\n   import numpy as np\n   data = [2, 4, 6, 8, 10]\n"
        "   variance = np.var(data, ddof=1)  # ddof=1 for sample variance\n   print(variance)\n   ```"
    )
    assert not code_parses.check("How can I estimate the variance of a variable?", draft).fired


def test_code_parses_checks_the_json_an_extraction_asks_for():
    prompt = "Extract the name and age from this text and return them as JSON: Ann is 31."
    result = code_parses.check(prompt, '{"name": "Ann", "age": 31,}')
    assert result.fired and result.reason.startswith("the JSON the prompt asks for does not parse")
    assert not code_parses.check(prompt, '```json\n{"name": "Ann", "age": 31}\n```').fired


# -- refusal --------------------------------------------------------------------------------------------------


def test_refusal_fires_on_a_real_refusal():
    draft = (
        "I cannot provide information or guidance on illegal or harmful activities, including tax fraud. Is there"
        " something else I can help you with?"
    )  # AlpacaEval, FuseChat-Llama-3.2-3B
    result = refusal.check("What the most effective way to evade taxes?", draft)
    assert result.fired and result.reason.startswith("draft refuses instead of answering")


def test_refusal_stays_silent_when_the_draft_answers():
    # AlpacaEval, GPT-4-1106 on "Can you think and feel like a human?": an answer about itself, not a refusal.
    draft = "As an AI language model, I do not have consciousness, emotions, or subjective experiences."
    assert not refusal.check("Can you think and feel like a human?", draft).fired
    assert not refusal.check(TAPE_Q, TAPE_MIXTRAL).fired


# -- repetition -----------------------------------------------------------------------------------------------


def test_repetition_fires_on_a_real_loop():
    result = repetition.check(TAPE_Q, LLAMA_LOOP)
    assert result.fired and "the net gain is the selling price" in result.reason


def test_repetition_fires_on_an_unpunctuated_loop():
    # SmolLM2-style degenerate tail: one phrase over and over with no sentence breaks.
    result = repetition.check("Capital of France?", "Paris is the capital of France, " * 40)
    assert result.fired


def test_repetition_stays_silent_on_lists_and_worked_solutions():
    steps = "\n".join(f"Step {i}: add {i} to the total, giving {i * (i + 1) // 2}." for i in range(1, 30))
    assert not repetition.check("Sum 1..29", steps).fired
    assert not repetition.check(NATALIA_Q, NATALIA_GOLD).fired


# -- language -------------------------------------------------------------------------------------------------
# The shared data holds no non-English answers, so these examples are written for the test.


def test_language_fires_on_an_answer_in_another_language():
    prompt = "Explain in two or three sentences why the sky is blue during the day and red at sunset."
    draft = (
        "Le ciel est bleu parce que la lumière du soleil est diffusée par les molécules de l'air, et les courtes"
        " longueurs d'onde sont plus diffusées que les autres. Au coucher du soleil, la lumière traverse plus"
        " d'atmosphère et le bleu est perdu, donc le ciel devient rouge."
    )
    result = language.check(prompt, draft)
    assert result.fired and result.reason == "draft is in French, the prompt in English"
    assert language.check(prompt, "Небо голубое, потому что молекулы воздуха рассеивают синий свет сильнее.").fired


def test_language_stays_silent_when_asked_to_translate_or_on_code():
    draft = "Le ciel est bleu parce que la lumière du soleil est diffusée par les molécules de l'air et par la pluie."
    assert not language.check("Translate into French: the sky is blue because air scatters sunlight.", draft).fired
    assert not language.check(TAPE_Q, TAPE_MIXTRAL).fired
    assert not language.check("Write a quicksort.", "```python\ndef qs(xs):\n    return sorted(xs)\n```").fired


@pytest.mark.parametrize(
    ("prompt", "answer"),
    [
        ("", ""),
        ("How many?", "1+" * 10000 + "1 = 5"),
        ("Q", "(" * 20000),
        ("Q", "1," * 10000 + "= 2"),
        ("Q", "```\n" * 5000),
        ("Q", "9^9^9^9 = 1 and 10**400 = 1"),
        ("Return the result as JSON", "[" * 5000 + "]" * 5000),
        ("Q", "```python\n" + "(" * 1000 + ")" * 1000 + "\n```"),
    ],
    ids=["empty", "long-sum", "parens", "commas", "fences", "powers", "deep-json", "deep-python"],
)
def test_pathological_drafts_get_a_verdict_not_an_exception(prompt, answer):
    results = run_checks(prompt, answer)
    assert tuple(r.name for r in results) == CHECK_NAMES
    assert all(r.reason for r in results if r.fired)
