"""A backend type from an outside package, registered the way a real one is: an installed distribution
(a dist-info folder on sys.path) whose ``hybrid.backends`` entry point names a module with Options and build."""

from __future__ import annotations

import textwrap

import pytest
from click.testing import CliRunner

from hybrid.backends import BackendOptions, available_types
from hybrid.cli import main
from hybrid.errors import ConfigError
from hybrid.router import Router
from hybrid.settings import Paths, load_settings
from hybrid.trace import TraceStore
from hybrid.types import Request
from models import build_backend
from tests.fakes.classifier import FixedClassifier

PLUGIN = '''
from pydantic import Field

from hybrid.backends import BackendOptions
from hybrid.types import Chunk, Health, Usage


class Options(BackendOptions):
    local: bool = True
    region: str
    shout: bool = False
    replicas: int = Field(default=1, ge=1)


class EchoBackend:
    def __init__(self, name, options):
        self.name, self.model, self.is_local, self.price = name, options.model, options.local, options.price
        self.options = options

    def health(self, deep=False):
        return Health(True, f"echo in {self.options.region} x{self.options.replicas}")

    def stream(self, request):
        text = f"{self.options.region}: {request.prompt}"
        yield Chunk(text=text.upper() if self.options.shout else text)
        yield Chunk(usage=Usage(3, 2), finish_reason="stop")


def build(name, options):
    return EchoBackend(name, options)
'''


@pytest.fixture
def acme_installed(tmp_path, monkeypatch):
    """Installs the package ``acme-echo`` on sys.path, as pip would lay it out."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "acme_echo.py").write_text(PLUGIN)
    info = site / "acme_echo-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-echo\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(textwrap.dedent("""\
        [hybrid.backends]
        echo = acme_echo
    """))
    monkeypatch.syspath_prepend(str(site))
    return site


def test_an_installed_package_adds_a_backend_type_with_its_own_options(acme_installed, tmp_path):
    assert "echo" in available_types()
    settings = load_settings(backends={"edge": {"type": "echo", "model": "echo-1", "region": "eu", "shout": True,
                                                "price_input": 0.5}},
                             routing={"local": ["edge"]})
    options = settings.backends["edge"]
    assert type(options).__module__ == "acme_echo" and isinstance(options, BackendOptions)
    backend = build_backend("edge", options)
    assert backend.options is options and backend.is_local and backend.price.input_per_mtok == 0.5
    router = Router(settings, {"edge": backend, **{n: build_backend(n, settings.backends[n])
                                                   for n in ("smollm2", "haiku", "sonnet", "opus")}},
                    FixedClassifier(0.1), TraceStore(tmp_path / "t.db"))
    completion = router.complete(Request.from_prompt("hello"))
    assert (completion.backend, completion.text) == ("edge", "EU: HELLO")


def test_the_plugin_options_validate_its_table_and_errors_name_the_key(acme_installed, isolated_home):
    isolated_home.mkdir(parents=True)
    (isolated_home / "config.toml").write_text(
        '[backends.edge]\ntype = "echo"\nregoin = "eu"\nreplicas = 0\n'
    )
    with pytest.raises(ConfigError) as info:
        load_settings()
    message = str(info.value)
    assert "backends.edge.regoin: Extra inputs are not permitted" in message
    assert "backends.edge.region: Field required" in message
    assert "backends.edge.replicas: Input should be greater than or equal to 1 (got 0)" in message
    assert str(Paths.resolve().config_file) in message


def test_doctor_lists_the_plugin_backend(acme_installed, isolated_home):
    isolated_home.mkdir(parents=True)
    (isolated_home / "config.toml").write_text('[backends.edge]\ntype = "echo"\nmodel = "echo-1"\nregion = "us"\n')
    result = CliRunner().invoke(main, ["doctor", "--quick"], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    row = next(line for line in result.output.splitlines() if "edge" in line)
    assert "echo" in row and "echo in us x1" in row


def test_an_unknown_type_lists_the_installed_ones(isolated_home):
    with pytest.raises(ConfigError, match=r"backends.x.type: 'nosuch' is not an installed backend type; "
                                          r"installed types: anthropic, llamacpp, ollama, openai"):
        load_settings(backends={"x": {"type": "nosuch"}})
