"""Credentials the privacy scan finds in a request never reach the trace: not its rows, not the texts table, not
the database file, not `hybrid logs`; the local model still gets the real prompt."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from hybrid.cli import main
from hybrid.settings import Paths
from hybrid.trace import TraceStore
from hybrid.types import Request
from tests.cloud_router import cloud_router, received
from tests.fakes.anthropic_api import FakeAnthropicAPI

GITHUB = "ghp_A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
LEAKS = {  # the new-user walkthrough's prompts: (task, prompt, secret, what the scan calls it)
    "database URL": ("chat", "connect with postgres://admin:Hunter2Secret@db.internal:5432/prod please",
                     "Hunter2Secret", "Basic Auth Credentials"),
    "password": ("chat", "in config: password = 'Tr0ub4dor&3xyzzy'", "Tr0ub4dor&3xyzzy", "Secret Keyword"),
    "GitHub token": ("reason", f"token {GITHUB} fails", GITHUB, "GitHub Token"),
    "AWS key": ("chat", "Why does boto3 reject aws_access_key_id=AKIAZ7QX3MPLR2TB9KWE?", "AKIAZ7QX3MPLR2TB9KWE",
                "AWS Access Key"),
}


@pytest.fixture
def api():
    with FakeAnthropicAPI() as fake:
        yield fake


def logs(*args: str) -> str:
    result = CliRunner().invoke(main, ["logs", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def db_bytes(path: Path) -> bytes:
    """The trace database as it lies on disk, its write-ahead log included."""
    return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*") if p.is_file())


def everything_logged(request_id: str) -> tuple[str, dict]:
    text = logs("--last", "5") + logs("--tree", request_id)
    (record,) = [json.loads(line) for line in logs("--last", "5", "--json").splitlines() if line.strip()]
    return text, record


@pytest.mark.parametrize("kind", sorted(LEAKS))
def test_a_credential_in_the_prompt_is_redacted_everywhere_the_trace_keeps_it(tmp_path, api, kind):
    task, prompt, secret, label = LEAKS[kind]
    path = Paths.resolve().trace_db
    router, backends, _ = cloud_router(tmp_path, api, score=0.95, trace=TraceStore(path))
    backends["smollm2"].enqueue(f"Rotate {secret} now.")  # an answer that echoes the secret
    completion = router.complete(Request.from_prompt(prompt, task=task, max_tokens=8))
    assert completion.backend == "smollm2" and f"local-only: {label} in message 1" in completion.decision.explain()
    assert secret in backends["smollm2"].history[0].prompt  # the local model got the real prompt
    assert completion.text == f"Rotate {secret} now."  # and the caller the real answer
    router.close()

    text, record = everything_logged(completion.request_id)
    placeholder = f"[redacted: {label}]"
    assert secret not in text and secret not in json.dumps(record, ensure_ascii=False)
    assert record["prompt"] == prompt.replace(secret, placeholder)
    assert record["messages"] == [{"role": "user", "content": prompt.replace(secret, placeholder)}]
    steps = {s["kind"]: s for s in record["steps"]}
    assert steps["classify"]["input"]["prompt"] == record["prompt"]
    assert steps["backend_call"]["input"]["messages"] == record["messages"]
    assert steps["backend_call"]["output"]["text"] == record["output"] == f"Rotate {placeholder} now."
    assert placeholder in text
    assert secret.encode() not in db_bytes(path)


def test_redact_mode_keeps_the_secret_out_of_the_trace_too(tmp_path, api):
    _, prompt, secret, label = LEAKS["GitHub token"]
    path = Paths.resolve().trace_db
    router, _, _ = cloud_router(tmp_path, api, score=0.95, trace=TraceStore(path), privacy={"mode": "redact"})
    api.enqueue_text("Revoke [SECRET_1] first.")
    completion = router.complete(Request.from_prompt(prompt))
    assert completion.backend == "sonnet" and completion.text == f"Revoke {secret} first."
    assert secret not in received(api) and "[SECRET_1]" in received(api)
    router.close()

    text, record = everything_logged(completion.request_id)
    assert secret not in text and secret not in json.dumps(record)
    assert record["output"] == f"Revoke [redacted: {label}] first."
    assert secret.encode() not in db_bytes(path)


def test_personal_data_stays_in_the_users_own_trace(tmp_path, api):
    prompt = "Draft a reply to maria.gonzalez@fastmail.com about the invoice"
    router, _, trace = cloud_router(tmp_path, api, score=0.95)
    completion = router.complete(Request.from_prompt(prompt))
    assert completion.backend == "smollm2" and "email address in message 1" in completion.decision.explain()
    assert trace.get_request(completion.request_id).prompt == prompt


def test_a_private_key_quoted_line_by_line_in_the_answer_is_redacted(tmp_path, api):
    body = ["MIIEowIBAAKCAQEAt9Xr2mQ5c0Vg8H1kLp4ZsY7uJ3nB6eW2qT9xR5vC8dA1fG4h",
            "K7jM0nP3sU6wY9zB2eD5gH8kL1oQ4rT7uW0xZ3cF6iJ9lN2pS5vX8yA1dG4hK7"]
    pem = "\n".join(["-----BEGIN RSA PRIVATE KEY-----", *body, "-----END RSA PRIVATE KEY-----"])
    router, backends, trace = cloud_router(tmp_path, api, score=0.95)
    backends["smollm2"].enqueue(f"It starts with {body[0]} which is PKCS#1.")
    completion = router.complete(Request.from_prompt(f"Which format is this key?\n{pem}\nPlease explain."))
    stored = json.dumps([vars(trace.get_request(completion.request_id)),
                         *map(vars, trace.steps(completion.request_id))], default=str)
    assert body[0] not in stored and body[1] not in stored and "[redacted: Private Key]" in stored


def test_a_short_password_is_redacted_as_a_whole_word_only(tmp_path, api):
    router, backends, trace = cloud_router(tmp_path, api, score=0.95)
    backends["smollm2"].enqueue("The password ab is about as weak as it gets; ab:ab is worse.")
    completion = router.complete(Request.from_prompt("Why is mysql://root:ab@localhost rejected?"))
    record = trace.get_request(completion.request_id)
    assert record.prompt == "Why is mysql://root:[redacted: Basic Auth Credentials]@localhost rejected?"
    redacted = "[redacted: Basic Auth Credentials]"
    assert record.output == f"The password {redacted} is about as weak as it gets; {redacted}:{redacted} is worse."


def test_a_request_holding_a_credential_bypasses_the_response_cache(tmp_path, api):
    from hybrid.cache import ResponseCache

    router, backends, trace = cloud_router(tmp_path, api, score=0.1)
    router.cache = ResponseCache(tmp_path / "cache")
    backends["smollm2"].enqueue(f"Rotate {GITHUB} now.", f"Rotate {GITHUB} again.", "Blue.", "Green.")
    first = router.complete(Request.from_prompt(f"token {GITHUB} fails", max_tokens=8))
    second = router.complete(Request.from_prompt(f"token {GITHUB} fails", max_tokens=8))
    assert (first.text, second.text) == (f"Rotate {GITHUB} now.", f"Rotate {GITHUB} again.")  # no cache hit
    assert GITHUB.encode() not in b"".join(p.read_bytes() for p in (tmp_path / "cache").rglob("*") if p.is_file())
    plain = [router.complete(Request.from_prompt("Name a colour.", max_tokens=8)).text for _ in range(2)]
    assert plain == ["Blue.", "Blue."]  # a request without one is still cached
