from __future__ import annotations

import tomllib

import pytest

from hybrid.errors import ConfigError
from hybrid.settings import Paths, load_settings, set_config_value
from hybrid.trace import TraceStore


def test_defaults_need_no_file(isolated_home):
    s = load_settings()
    assert s.routing.local == ["smollm2"] and s.routing.cloud == "sonnet"
    assert s.backends["haiku"].model == "claude-haiku-4-5"
    assert (s.backends["opus"].price_input, s.backends["opus"].price_output) == (5.0, 25.0)
    assert s.routing.tasks["reason"].route == "cloud" and s.routing.tasks["classify"].cloud == "haiku"


def test_hybrid_home_moves_every_user_file(isolated_home):
    p = Paths.resolve()
    assert p.config_file == isolated_home / "config.toml"
    for path in (p.trace_db, p.artifacts_dir, p.response_cache_dir):
        assert isolated_home in path.parents


def test_xdg_dirs_are_honoured_without_hybrid_home(tmp_path, monkeypatch):
    monkeypatch.delenv("HYBRID_HOME")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    p = Paths.resolve()
    assert p.config_file == tmp_path / "cfg" / "hybrid" / "config.toml"
    assert p.trace_db == tmp_path / "data" / "hybrid" / "trace.db"


def test_file_adds_backends_and_env_beats_file(isolated_home, monkeypatch):
    isolated_home.mkdir(parents=True)
    (isolated_home / "config.toml").write_text(
        '[routing]\nthreshold = 0.3\nlocal = ["smollm2", "llama3"]\n'
        '[backends.llama3]\ntype = "ollama"\nmodel = "llama3.2:3b"\n'
        '[backends.smollm2]\nn_ctx = 1024\n'
    )
    monkeypatch.setenv("HYBRID_ROUTING__THRESHOLD", "0.7")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-test")
    s = load_settings()
    assert s.routing.threshold == 0.7
    assert s.routing.local == ["smollm2", "llama3"]
    assert s.backends["llama3"].model == "llama3.2:3b"
    assert s.backends["smollm2"].n_ctx == 1024 and s.backends["smollm2"].type == "llamacpp"
    assert s.anthropic_api_key.get_secret_value() == "sk-test"
    assert "sk-test" not in repr(s)
    assert load_settings(routing={"threshold": 0.1}).routing.threshold == 0.1


def test_environment_names_any_key_in_any_case_lists_as_json_and_bad_values_name_the_key(isolated_home, monkeypatch):
    monkeypatch.setenv("hybrid_routing__local", '["smollm2", "gateway"]')
    monkeypatch.setenv("HYBRID_BACKENDS__GATEWAY__TYPE", "openai")
    monkeypatch.setenv("HYBRID_BACKENDS__GATEWAY__BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("HYBRID_BACKENDS__GATEWAY__MODEL", "qwen")
    monkeypatch.setenv("HYBRID_BACKENDS__GATEWAY__LOCAL", "true")
    monkeypatch.setenv("HYBRID_ANTHROPIC_API_KEY", "sk-hybrid")
    monkeypatch.setenv("HYBRID_HOME_IS_NOT_A_SETTING", "1")
    s = load_settings(routing={"mode": "cascade"})
    assert s.routing.local == ["smollm2", "gateway"] and s.routing.mode == "cascade"
    assert s.backends["gateway"].base_url == "http://127.0.0.1:9/v1" and s.backends["gateway"].local is True
    assert s.anthropic_api_key.get_secret_value() == "sk-hybrid"
    monkeypatch.setenv("HYBRID_PRIVACY__LOCAL_TASKS", "classify")
    with pytest.raises(ConfigError, match="privacy.local_tasks: Input should be a valid list"):
        load_settings()
    monkeypatch.delenv("HYBRID_PRIVACY__LOCAL_TASKS")
    monkeypatch.setenv("HYBRID_ROUTNG__THRESHOLD", "0.3")  # misspelt: ignoring it would route at the old threshold
    with pytest.raises(ConfigError, match="HYBRID_ROUTNG__THRESHOLD names no setting: there is no section 'routng' "
                                          r"\(sections: backends, routing, "):
        load_settings()


@pytest.mark.parametrize(
    "text, message",
    [
        ('[routing]\nthreshold = "high"\n', r"routing.threshold: .*valid number.*'high'"),
        ("[routing]\nthreshold = 1.5\n", "routing.threshold: Input should be less than or equal to 1"),
        ('[routing]\ncloud = "gpt5"\n', "routing.cloud names backend 'gpt5', which is not defined"),
        ("[routing\n", "is not valid TOML"),
        ("[backends.x]\nmodel = 'm'\n", "backends.x.type: Field required"),
        ("colour = 'blue'\n", "colour: Extra inputs are not permitted"),
        ('[routing]\nmode = "cascade"\ndrafts = 2\ndraft_backends = ["opus"]\n',
         "routing.draft_backends names 'opus', a cloud backend \\(local = false\\), so every request would pay"),
        ('[routing]\nlocal = ["smollm2", "haiku"]\n', "routing.local names 'haiku', a cloud backend"),
    ],
)
def test_a_bad_config_names_the_key_and_the_file(isolated_home, text, message):
    isolated_home.mkdir(parents=True)
    (isolated_home / "config.toml").write_text(text)
    with pytest.raises(ConfigError, match=message) as info:
        load_settings()
    assert "config.toml" in str(info.value)


def test_set_config_value_keeps_the_rest_of_the_file(isolated_home):
    path = Paths.resolve().config_file
    path.parent.mkdir(parents=True)
    path.write_text('[backends.llama3]\ntype = "ollama"\nmodel = "llama3"\n')
    set_config_value(path, "routing.threshold", 0.45)
    data = tomllib.loads(path.read_text())
    assert data["routing"]["threshold"] == 0.45 and data["backends"]["llama3"]["model"] == "llama3"
    assert load_settings().routing.threshold == 0.45


COMMENTED = """\
# my hybrid config: keep these notes
[routing]
mode = "direct"      # cascade later, once the drafts look good
local = ["smollm2"]

# the gateway the team shares
[backends.sonnet]
price_input = 3.0    # list price
"""


def test_set_config_value_keeps_comments_order_and_layout(isolated_home):
    path = Paths.resolve().config_file
    path.parent.mkdir(parents=True)
    path.write_text(COMMENTED)
    set_config_value(path, "routing.threshold", 0.45)
    set_config_value(path, "routing.threshold", 0.4)
    set_config_value(path, "cache.enabled", False)
    text = path.read_text()
    assert text.startswith(COMMENTED.replace('local = ["smollm2"]\n', 'local = ["smollm2"]\nthreshold = 0.4\n'))
    assert text.count("threshold") == 1 and text.endswith("[cache]\nenabled = false\n")
    settings = load_settings()
    assert settings.routing.threshold == 0.4 and settings.cache.enabled is False


def test_hybrid_calibrate_keeps_the_users_comments(isolated_home, tmp_path):
    from click.testing import CliRunner

    from classifiers.store import packaged_card
    from hybrid.cli import main
    from hybrid.types import Request
    from tests.fakes.classifier import FixedClassifier
    from tests.helpers import fake_router

    path = Paths.resolve().config_file
    path.parent.mkdir(parents=True)
    path.write_text(COMMENTED)
    router, _, _ = fake_router(tmp_path)
    router.trace = TraceStore(Paths.resolve().trace_db)
    for i in range(10):
        router.classifier = FixedClassifier(i / 10, version=packaged_card()["version"])
        router.complete(Request.from_prompt(f"question {i}"))
    result = CliRunner().invoke(main, ["calibrate", "--escalate", "0.3"])
    assert result.exit_code == 0, result.output
    text = path.read_text()
    for line in COMMENTED.splitlines():
        assert line in text
    assert tomllib.loads(text)["routing"]["threshold"] == load_settings().routing.threshold


def test_a_config_that_is_not_utf8_names_the_file(isolated_home):
    path = Paths.resolve().config_file
    path.parent.mkdir(parents=True)
    path.write_bytes('[routing]\n# café\nmode = "direct"\n'.encode("latin-1"))
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert str(path) in str(info.value) and "is not UTF-8" in str(info.value) and "re-save" in str(info.value).lower()
    with pytest.raises(ConfigError, match="is not UTF-8"):
        set_config_value(path, "routing.threshold", 0.5)
