"""The soft "final number is none of the options" signal: it fires only on numeric multiple-choice prompts, and it
raises the cascade's score without counting as a fired check."""

from __future__ import annotations

from classifiers import DraftRules, load_classifier
from classifiers.checks.options import number_off_options, option_values
from hybrid.types import Draft, Request

# mmlupro-3558 from ../shared/data/mmlu_pro_stem.jsonl.gz (the answers below are written for the test).
PROMPT = (
    "For the reaction $\\mathrm{C}_2 \\mathrm{H}_5 \\mathrm{OH}(\\mathrm{l})+3 \\mathrm{O}_2(\\mathrm{~g}) \\rightarrow "
    "2 \\mathrm{CO}_2(\\mathrm{~g})+3 \\mathrm{H}_2 \\mathrm{O}(\\mathrm{g})$, $\\Delta_{\\mathrm{r}} U^\\ominus=-1373 "
    "\\mathrm{~kJ} \\mathrm{~mol}^{-1}$ at $298 \\mathrm{~K}$, calculate $\\Delta_{\\mathrm{r}} H^{\\ominus}$.\n"
    "A. -1400$\\mathrm{~kJ} \\mathrm{~mol}^{-1}$\nB. -1415 kJ mol^-1\nC. -1340 kJ mol^-1\nD. -1390 kJ mol^-1\n"
    "E. -1320$\\mathrm{~kJ} \\mathrm{~mol}^{-1}$\nF. -1335 kJ mol^-1\nG. -1385$\\mathrm{~kJ} \\mathrm{~mol}^{-1}$\n"
    "H. -1375 kJ mol^-1\nI. -1420 kJ mol^-1\nJ.  -1368$\\mathrm{~kJ} \\mathrm{~mol}^{-1}$"
)
ON = "The gas moles change by +1, so dH = dU + RT = -1373 + 2.5 = -1370.5, about -1375 kJ/mol. The answer is (H)."
OFF = "The gas moles change by +1, so dH = dU + 100 = -1273 kJ/mol. The answer is (E)."


def test_only_a_final_number_that_is_none_of_the_options_fires():
    assert option_values(PROMPT)[:3] == (-1400.0, -1415.0, -1340.0)
    assert number_off_options(PROMPT, OFF)
    assert not number_off_options(PROMPT, ON)
    assert not number_off_options(PROMPT, "The answer is (H).")  # no number: nothing to compare
    assert not number_off_options("How many clips did Natalia sell in April and May?", "She sold 13 clips.")


def test_it_raises_the_score_but_is_no_check():
    clf = load_classifier(None)
    request = Request.from_prompt(PROMPT)
    on = clf.assess_drafts(request, (Draft(ON, "stop"),))
    off = clf.assess_drafts(request, (Draft(OFF, "stop"),))
    assert not on.fired and not off.fired
    assert on.score < off.score < DraftRules().check_floor
    assert off.score > on.score + 0.1
