"""Pipeline files: every bad file gets a clear error naming the problem and the fix, before anything runs."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from hybrid.cli import main
from hybrid.errors import ConfigError, PipelineError
from hybrid.pipeline_file import load_pipeline
from hybrid.settings import DEFAULT_TASKS

GOOD = """
name = "triage"
max_tokens = 64

[[steps]]
name = "classify"
task = "classify"
prompt = "Classify: {input}"

[[steps]]
name = "reason"
task = "reason"
route = "auto"
threshold = 0.6
prompt = "Kind {steps.classify.output}. Literal {{braces}}. Reply to {input}"
"""


def write(tmp_path, text: str, suffix: str = ".toml"):
    path = tmp_path / f"pipeline{suffix}"
    path.write_text(text)
    return path


def test_a_good_toml_file_loads_with_its_graph_and_overrides(tmp_path):
    pipeline = load_pipeline(write(tmp_path, GOOD), tasks=DEFAULT_TASKS)
    assert pipeline.graph() == {"classify": [], "reason": ["classify"]}
    assert pipeline.step("reason").route == "auto" and pipeline.step("reason").threshold == 0.6
    assert pipeline.max_tokens == 64


def test_the_same_pipeline_in_yaml(tmp_path):
    yaml_text = """
name: triage
steps:
  - name: classify
    task: classify
    prompt: "Classify: {input}"
  - name: reason
    task: reason
    prompt: "Kind {steps.classify.output}"
"""
    assert load_pipeline(write(tmp_path, yaml_text, ".yaml"), tasks=DEFAULT_TASKS).graph() == {
        "classify": [], "reason": ["classify"]}


STEP_A = '[[steps]]\nname = "a"\nprompt = "{input}"\n'

BAD = {
    "cycle": (
        ('name = "p"\n[[steps]]\nname = "a"\nprompt = "{steps.b.output}"\n[[steps]]\nname = "b"\n'
         'prompt = "{steps.a.output}"\n'),
        r"steps a -> b -> a form a cycle; a step can only read steps that come before it",
    ),
    "self reference": (
        'name = "p"\n[[steps]]\nname = "a"\nprompt = "{steps.a.output}"\n',
        r"steps a -> a form a cycle",
    ),
    "missing step": (
        'name = "p"\n' + STEP_A + '[[steps]]\nname = "b"\nprompt = "{steps.sumarize.output}"\n',
        r"step 'b' reads \{steps.sumarize.output\}, but there is no step 'sumarize'; the steps are: a, b",
    ),
    "missing step in after": (
        'name = "p"\n' + STEP_A + '[[steps]]\nname = "b"\nprompt = "x"\nafter = ["zz"]\n',
        r"step 'b' runs after 'zz', but there is no step 'zz'",
    ),
    "unknown task type": (
        'name = "p"\n[[steps]]\nname = "a"\ntask = "poetry"\nprompt = "{input}"\n',
        r"step 'a' has task 'poetry', which is not a task type; use one of: chat, classify.*\[routing.tasks.poetry\]",
    ),
    "template names a missing output": (
        'name = "p"\n' + STEP_A + '[[steps]]\nname = "b"\nprompt = "{steps.a.text}"\n',
        r"step 'b': its prompt reads \{steps.a.text\}, which is not something a template can read; use \{input\}",
    ),
    "results of a step without subtasks": (
        'name = "p"\n' + STEP_A + '[[steps]]\nname = "b"\nprompt = "{steps.a.results}"\n',
        r"step 'b' reads \{steps.a.results\}, but step 'a' has no subtasks; read \{steps.a.output\}",
    ),
    "attribute access in a template": (
        'name = "p"\n[[steps]]\nname = "a"\nprompt = "{input.__class__}"\n',
        r"its prompt reads \{input.__class__\}, which is not something a template can read",
    ),
    "format spec": (
        'name = "p"\n[[steps]]\nname = "a"\nprompt = "{input!r}"\n',
        r"\{input!r\} uses a conversion or format spec, which templates do not allow; write \{input\}",
    ),
    "unbalanced brace": (
        'name = "p"\n[[steps]]\nname = "a"\nprompt = "{input"\n',
        r"step 'a': its prompt is not a valid template .*write literal braces as \{\{ and \}\}",
    ),
    "bad type": (
        'name = "p"\n[[steps]]\nname = "a"\nprompt = "{input}"\nmax_tokens = "ten"\n',
        r"step 'a', key max_tokens: Input should be a valid integer \(got 'ten'\)",
    ),
    "bad route": (
        'name = "p"\n[[steps]]\nname = "a"\nprompt = "{input}"\nroute = "gpu"\n',
        r"step 'a', key route: Input should be 'auto', 'local' or 'cloud'",
    ),
    "threshold out of range": (
        'name = "p"\n[[steps]]\nname = "a"\nprompt = "{input}"\nthreshold = 1.5\n',
        r"step 'a': threshold must be between 0 and 1, got 1.5",
    ),
    "unknown key": (
        'name = "p"\n[[steps]]\nname = "a"\nprompt = "{input}"\nmodel = "opus"\n',
        r"step 'a', key model: unknown key; the keys are: name, prompt, task",
    ),
    "missing prompt": (
        'name = "p"\n[[steps]]\nname = "a"\n',
        r"step 'a', key prompt: missing; add it",
    ),
    "duplicate names": (
        'name = "p"\n' + STEP_A + STEP_A,
        r"two steps are named 'a'; give each step its own name",
    ),
    "no steps": (
        'name = "p"\nsteps = []\n',
        r"pipeline 'p' has no steps; add at least one \[\[steps\]\] table",
    ),
    "bad step name": (
        'name = "p"\n[[steps]]\nname = "a b"\nprompt = "{input}"\n',
        r"step name 'a b' is not valid; use letters, digits",
    ),
    "not toml": (
        'name = "p\n',
        r"is not valid TOML .*fix the line it names",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_every_bad_pipeline_file_gets_a_clear_error(tmp_path, case):
    text, message = BAD[case]
    with pytest.raises(PipelineError, match=message) as info:
        load_pipeline(write(tmp_path, text), tasks=DEFAULT_TASKS)
    assert isinstance(info.value, ConfigError)
    assert "pipeline.toml" in str(info.value)


def test_a_yaml_syntax_error_is_one_line_naming_the_file_line_column_and_fix(tmp_path):
    path = write(tmp_path, "name: p\nsteps:\n  - name: a\n    prompt: [unclosed\n", ".yaml")
    result = CliRunner().invoke(main, ["run", str(path), "--input", "Zed"])
    assert result.exit_code == 1
    (line,) = result.output.strip().splitlines()
    assert f"{path} is not valid YAML at line 5, column 1: expected ',' or ']', but got '<stream end>' " in line
    assert line.endswith("(while parsing a flow sequence); fix that line (indent with spaces, close every [ and {)")


def test_bad_yaml_and_wrong_suffix_and_missing_file(tmp_path):
    with pytest.raises(PipelineError, match="not valid YAML"):
        load_pipeline(write(tmp_path, "name: [unclosed", ".yml"))
    with pytest.raises(PipelineError, match="must hold a mapping"):
        load_pipeline(write(tmp_path, "- just a list", ".yaml"))
    with pytest.raises(PipelineError, match=r"must end in .toml, .yaml or .yml"):
        load_pipeline(write(tmp_path, GOOD, ".json"))
    with pytest.raises(PipelineError, match="cannot read the pipeline file"):
        load_pipeline(tmp_path / "absent.toml")


def test_hybrid_run_reports_a_bad_file_before_running_anything(tmp_path):
    path = write(tmp_path, BAD["cycle"][0])
    result = CliRunner().invoke(main, ["run", str(path), "--input", "x"])
    assert result.exit_code == 1
    assert "error:" in result.output and "form a cycle" in result.output
    result = CliRunner().invoke(main, ["run", str(write(tmp_path, GOOD))])
    assert result.exit_code == 1 and "exactly one of --input TEXT or --input-file PATH" in result.output


def test_hybrid_run_says_when_the_input_file_cannot_be_read(tmp_path):
    result = CliRunner().invoke(main, ["run", str(write(tmp_path, GOOD)), "--input-file", str(tmp_path / "nope.txt")])
    assert result.exit_code == 1 and "cannot read --input-file" in result.output and "nope.txt" in result.output


@pytest.mark.slow
@pytest.mark.parametrize(("flags", "says"), [(["--no-log"], "trace: not logged (--no-log)"),
                                             ([], "trace: hybrid logs --tree ")])
def test_hybrid_run_points_at_the_runs_tree_only_when_it_was_logged(tmp_path, flags, says):
    path = write(tmp_path, 'name = "p"\nmax_tokens = 2\n[[steps]]\nname = "a"\ntask = "classify"\nprompt = "{input}"\n')
    result = CliRunner().invoke(main, [*flags, "run", str(path), "--input", "Zed"])
    assert result.exit_code == 0, result.output
    (hint,) = [line for line in result.output.splitlines() if line.startswith("critical path: ")]
    assert hint.split(" · ")[-1].startswith(says)
