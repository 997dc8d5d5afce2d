"""Local-only requests: secrets and personal data never reach the (fake) cloud, and redact mode restores exactly."""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from hybrid.cli import main
from hybrid.errors import BackendError, HybridError
from hybrid.events import Done, TextDelta
from hybrid.privacy import PrivacyScanner, Redaction, Restorer, find, may_hold_secret
from hybrid.settings import Paths, PrivacySettings
from hybrid.trace import TraceStore
from hybrid.types import Chunk, Message, Request
from tests.cloud_router import cloud_router, received
from tests.fakes.anthropic_api import DEFAULT_KEY, FakeAnthropicAPI

GITHUB = "ghp_" + "R7xk2Qp9LmZ4vB8nT1sW6yHc3JdF5gAe0KuV"
PEM = ("-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAt9Xr2mQ5c0Vg8H1kLp4ZsY7uJ3nB6eW2qT9xR5vC8dA1fG4h\n"
       "K7jM0nP3sU6wY9zB2eD5gH8kL1oQ4rT7uW0xZ3cF6iJ9lN2pS5vX8yA1dG4hK7\n-----END RSA PRIVATE KEY-----")
SECRETS = {
    "AWS-style key": ("Why does boto3 reject aws_access_key_id=AKIAZ7QX3MPLR2TB9KWE here?", "AKIAZ7QX3MPLR2TB9KWE"),
    "GitHub token": (f"My CI uses GITHUB_TOKEN {GITHUB}, is that scoped right?", GITHUB),
    "PEM private key": (f"Which format is this key?\n{PEM}\nPlease explain.", "MIIEowIBAAKCAQEAt9Xr2mQ5"),
    "password": ('Fix this config line: db_password = "Wint3r!Sun#42" so it loads', "Wint3r!Sun#42"),
    "database URL": ("Connect with postgres://billing:Qz8kLm2pXv@db.prod.acme.io:5432/ledger, explain pooling",
                     "Qz8kLm2pXv"),
    "email": ("Draft a reply to maria.gonzalez@fastmail.com about the invoice", "maria.gonzalez@fastmail.com"),
    "phone": ("Remind me to call Dr. Patel at +44 20 7946 0958 tomorrow", "7946 0958"),
    "IBAN": ("Pay the rent to IBAN DE89 3704 0044 0532 0130 00 by Friday", "DE89 3704 0044 0532 0130 00"),
    "card": ("Is my card 4539 1488 0343 6467 still valid for online shopping?", "4539 1488 0343 6467"),
}
CLEAN_LOOKALIKES = {
    "invalid IBAN": "Is DE89 3704 0044 0532 0130 01 a valid IBAN?",
    "invalid card": "Is 4539 1488 0343 6468 a valid card number?",
    "example email": "Write a regex that matches addresses like someone@example.com",
    "numbers": "Janet sells 16 eggs at $2 each every day in 2022; 1234567 is a big number. What is 0.994553 * 3?",
}


@pytest.fixture
def api():
    with FakeAnthropicAPI() as fake:
        yield fake


@pytest.mark.parametrize("kind", sorted(SECRETS))
def test_sensitive_request_stays_local_even_when_hard(tmp_path, api, kind):
    prompt, secret = SECRETS[kind]
    router, _, trace = cloud_router(tmp_path, api, score=0.95)
    completion = router.complete(Request.from_prompt(prompt))
    assert completion.backend == "smollm2"
    assert api.messages_requests() == [] and secret not in received(api)
    explained = completion.decision.explain()
    assert "local-only: " in explained and "sonnet not used (the request is local-only)" in explained
    assert secret not in explained and secret not in json.dumps(trace.get_request(completion.request_id).reasons)


@pytest.mark.parametrize("kind", sorted(CLEAN_LOOKALIKES))
def test_lookalikes_that_fail_their_checksum_are_not_private(tmp_path, api, kind):
    router, _, _ = cloud_router(tmp_path, api, score=0.95)
    completion = router.complete(Request.from_prompt(CLEAN_LOOKALIKES[kind]))
    assert completion.backend == "sonnet" and "local-only" not in completion.decision.explain()
    assert CLEAN_LOOKALIKES[kind] in received(api)


def test_local_only_is_not_escaped_by_fallback_cascade_or_a_pinned_task(tmp_path, api):
    prompt, secret = SECRETS["AWS-style key"]
    router, backends, _ = cloud_router(tmp_path, api, score=0.1, routing={"mode": "cascade"})
    backends["smollm2"].enqueue(BackendError("smollm2", "crashed"))
    with pytest.raises(BackendError):
        router.complete(Request.from_prompt(prompt))  # the only local model failed: an error, not a cloud call
    completion = router.complete(Request.from_prompt(prompt + " again"))  # cascade: no draft goes to the cloud
    assert completion.backend == "smollm2" and completion.decision.mode == "direct"
    pinned = router.complete(Request.from_prompt(prompt, task="reason"))  # 'reason' always escalates to opus
    assert pinned.backend == "smollm2"
    assert api.messages_requests() == [] and secret not in received(api)


def test_no_local_backend_fails_clearly_instead_of_leaking(tmp_path, api):
    prompt, secret = SECRETS["email"]
    router, _, trace = cloud_router(tmp_path, api, local_ok=False)
    with pytest.raises(HybridError, match="may not take this request .the request is local-only. and no local"):
        router.complete(Request.from_prompt(prompt))
    assert api.messages_requests() == []
    (row,) = trace.recent(1)
    assert row.status == "failed" and secret not in (row.error or "")


def test_flag_and_task_rule_make_a_clean_request_local(tmp_path, api):
    router, _, _ = cloud_router(tmp_path, api, privacy={"local_tasks": ["summarize"]})
    flagged = router.complete(Request.from_prompt("Explain quicksort", metadata={"local_only": "true"}))
    assert flagged.backend == "smollm2" and "the client asked for it" in flagged.decision.explain()
    task = router.complete(Request.from_prompt("Summarize our quarterly plan", task="summarize"))
    assert task.backend == "smollm2" and "task 'summarize' is listed in privacy.local_tasks" in task.decision.explain()
    assert api.messages_requests() == []


def test_redact_mode_sends_placeholders_and_restores_the_answer_exactly(tmp_path, api):
    email, key = "maria.gonzalez@fastmail.com", "AKIAZ7QX3MPLR2TB9KWE"
    prompt = f"Write one line telling {email} that key {key} was rotated."
    router, _, trace = cloud_router(tmp_path, api, privacy={"mode": "redact"})
    api.enqueue_text("Dear [EMAIL_1], the key [SECRET_1] was rotated; [EMAIL_1] needs no action.")
    events = list(router.run(Request.from_prompt(prompt)))
    streamed = [e.text for e in events if isinstance(e, TextDelta)]
    (completion,) = [e.completion for e in events if isinstance(e, Done)]
    expected = f"Dear {email}, the key {key} was rotated; {email} needs no action."
    assert completion.text == expected and "".join(streamed) == expected
    assert completion.backend == "sonnet"
    sent = received(api)
    assert email not in sent and key not in sent and "[EMAIL_1]" in sent and "[SECRET_1]" in sent
    assert "redact: 2 item(s) (email address, AWS Access Key)" in completion.decision.explain()
    assert "local-only" not in completion.decision.explain()  # it went to the cloud, redacted: not local-only
    # the trace keeps the user's own email address, never the key
    assert trace.get_request(completion.request_id).output == expected.replace(key, "[redacted: AWS Access Key]")


def test_redact_mode_covers_passwords_and_keys_in_code(tmp_path, api):
    prompt = SECRETS["password"][0] + "\n" + SECRETS["database URL"][0]
    router, _, _ = cloud_router(tmp_path, api, privacy={"mode": "redact"})
    api.enqueue_text('db_password = "[SECRET_1]" and the URL keeps [SECRET_2]')
    completion = router.complete(Request.from_prompt(prompt))
    assert completion.backend == "sonnet"
    assert completion.text == 'db_password = "Wint3r!Sun#42" and the URL keeps Qz8kLm2pXv'
    assert "Wint3r!Sun#42" not in received(api) and "Qz8kLm2pXv" not in received(api)


def test_redact_mode_still_keeps_flagged_requests_local(tmp_path, api):
    router, _, _ = cloud_router(tmp_path, api, privacy={"mode": "redact"})
    completion = router.complete(Request.from_prompt("Hard question", metadata={"local_only": "yes"}))
    assert completion.backend == "smollm2" and api.messages_requests() == []


def test_restorer_handles_placeholders_split_across_chunks():
    text = "ok [EMAIL_1] and [SECRET_1]."
    originals = {"[EMAIL_1]": "a.b@mail.io", "[SECRET_1]": "AKIAZ7QX3MPLR2TB9KWE"}
    for size in (1, 2, 3, 5):
        pieces = [text[i:i + size] for i in range(0, len(text), size)]
        chunks = [Chunk(text=p) for p in pieces] + [Chunk(finish_reason="stop")]
        out = "".join(c.text for c in Restorer(Redaction(originals)).wrap(chunks))
        assert out == "ok a.b@mail.io and AKIAZ7QX3MPLR2TB9KWE."


def test_closing_a_restored_stream_closes_the_backend_stream():
    closed = []

    def backend():
        try:
            yield Chunk(text="Dear [EMAIL_1], ")
            yield Chunk(text="more to come")
        finally:
            closed.append(True)

    stream = backend()  # held here, so only an explicit close (not garbage collection) can end it
    restored = Restorer(Redaction({"[EMAIL_1]": "a.b@mail.io"})).wrap(stream)
    next(restored)
    restored.close()  # the router stopping a cancelled request mid-answer
    assert closed == [True]


def test_verdict_names_rules_and_where_not_the_values():
    scanner = PrivacyScanner(PrivacySettings())
    request = Request(messages=(Message("system", "be brief"), Message("user", SECRETS["GitHub token"][0])))
    verdict = scanner.verdict(request)
    assert verdict.describe() == "local-only: GitHub Token in message 2"
    assert [(f.label, f.message) for f in verdict.findings] == [("GitHub Token", 1)]


@pytest.mark.slow
def test_cli_local_only_flag(monkeypatch):
    with FakeAnthropicAPI() as fake:
        monkeypatch.setenv("ANTHROPIC_API_KEY", DEFAULT_KEY)
        monkeypatch.setenv("HYBRID_BACKENDS__OPUS__BASE_URL", fake.url)
        monkeypatch.setenv("HYBRID_BACKENDS__SMOLLM2__PATH", "/nonexistent/model.gguf")
        result = CliRunner().invoke(main, ["ask", "--task", "reason", "--local-only", "Prove it"])
        assert result.exit_code == 1 and fake.messages_requests() == []
        assert "local-only" in result.output and "no local backend is available" in result.output
    (row,) = TraceStore(Paths.resolve().trace_db).recent(1)
    assert row.metadata["local_only"] == "true" and row.status == "failed"


SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


@pytest.mark.skipif(not SHARED.exists(), reason="../shared/data is not here")
def test_false_alarm_rate_on_shared_prompts_is_under_one_percent():
    from benchmarks.privacy import SETS, prompts

    scanner = PrivacyScanner(PrivacySettings())
    for name, (file, pick) in SETS.items():
        texts = list(itertools.islice(prompts(SHARED / file, pick), 300))
        flagged = sum(scanner.verdict(Request.from_prompt(t)).local_only for t in texts)
        assert flagged / len(texts) < 0.01, (name, flagged)


def test_findings_are_whole_and_do_not_overlap():
    text = "creds postgres://u:Qz8kLm2pXv@db.acme.io/x and mail ops@acme.io"
    labels = [(f.label, text[f.start:f.end]) for f in find(text)]
    assert labels == [("Basic Auth Credentials", "Qz8kLm2pXv"), ("email address", "ops@acme.io")]


def _detector_patterns() -> list[tuple[str, re.Pattern]]:
    """Every pattern by which the installed detect-secrets plugins (as hybrid runs them) can find a secret."""
    from hybrid.privacy import _keyword_maps, _keywords, _plugins

    patterns = [(p.secret_type, r) for p in _plugins() if p.secret_type != "Secret Keyword" for r in p.denylist]
    patterns += [("Secret Keyword", r) for mapping in _keyword_maps() for r in mapping]
    return [*patterns, ("Secret Keyword", _keywords())]


@pytest.mark.parametrize("name, pattern", _detector_patterns(), ids=lambda v: v if isinstance(v, str) else "")
def test_the_cheap_pre_check_passes_everything_a_secret_detector_could_match(name, pattern):
    """``may_hold_secret`` lets the scan skip loading detect-secrets; it must never say no to a possible secret."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(st.from_regex(pattern, fullmatch=True))
    def check(text: str) -> None:
        assert may_hold_secret(text), f"{name}: {text!r}"

    check()


def test_ordinary_prose_skips_the_secret_detectors_and_secrets_do_not():
    assert not may_hold_secret("Name three colours of the rainbow. Programming languages, documentation.")
    for kind in ("AWS-style key", "GitHub token", "PEM private key", "password", "database URL"):
        assert may_hold_secret(SECRETS[kind][0]), kind
