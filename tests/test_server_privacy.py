"""Local-only requests through the official openai and anthropic SDKs: a flag hybrid cannot read is refused
(never read as "no"), and a cloud backend pinned for a request that must stay local is a 400 naming the fix."""

from __future__ import annotations

import re

import anthropic
import openai
import pytest

from tests.fakes.classifier import FixedClassifier
from tests.helpers import fake_router
from tests.serving import serving

GITHUB = "ghp_A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
AWS = "aws_access_key_id=AKIAZ7QX3MPLR2TB9KWE"
HARD = [{"role": "user", "content": "Prove that sqrt(2) is irrational."}]


@pytest.fixture
def served(tmp_path):
    router, backends, trace = fake_router(tmp_path, classifier=FixedClassifier(0.95))  # hard: it would escalate
    with serving(router, token="tok") as (base, _):
        yield base, backends, trace


def clients(base: str) -> tuple[openai.OpenAI, anthropic.Anthropic]:
    return (openai.OpenAI(base_url=base + "/v1", api_key="tok", max_retries=0),
            anthropic.Anthropic(base_url=base, api_key="tok", max_retries=0))


def test_a_local_only_flag_that_is_neither_true_nor_false_is_a_400_naming_it(served):
    base, backends, _ = served
    oa, an = clients(base)
    accepted = re.escape("fix: use true, yes, 1 or on (keep the request local) or false, no, 0 or off (route it as "
                         "usual), in any case")
    header = {"X-Hybrid-Local-Only": "maybe"}
    with pytest.raises(openai.BadRequestError, match=f"header X-Hybrid-Local-Only is 'maybe'.*{accepted}"):
        oa.chat.completions.create(model="hybrid", messages=HARD, extra_headers=header)
    with pytest.raises(anthropic.BadRequestError, match=f"header X-Hybrid-Local-Only is 'maybe'.*{accepted}"):
        an.messages.create(model="hybrid", max_tokens=9, messages=HARD, extra_headers=header)
    with pytest.raises(openai.BadRequestError, match=f"metadata.local_only is 'maybe'.*{accepted}"):
        oa.chat.completions.create(model="hybrid", messages=HARD, metadata={"local_only": "maybe"}, stream=True)
    with pytest.raises(anthropic.BadRequestError, match=f"metadata.local_only is 'maybe'.*{accepted}"):
        an.messages.create(model="hybrid", max_tokens=9, messages=HARD, metadata={"local_only": "maybe"})
    assert all(not b.history for b in backends.values())  # nothing was sent anywhere


def test_local_only_flags_read_in_any_case_and_either_one_keeps_the_request_local(served):
    base, _, _ = served
    oa, an = clients(base)
    local = oa.chat.completions.with_raw_response.create(model="hybrid", messages=HARD,
                                                         extra_headers={"X-Hybrid-Local-Only": "YES"})
    assert local.headers["x-hybrid-target"] == "smollm2"
    cloud = an.messages.create(model="hybrid", max_tokens=9, messages=HARD, metadata={"local_only": "Off"})
    assert cloud.model_extra["x_hybrid"]["backend"] == "sonnet"
    both = oa.chat.completions.create(model="hybrid", messages=HARD, metadata={"local_only": "false"},
                                      extra_headers={"X-Hybrid-Local-Only": "on"})
    assert both.model_extra["x_hybrid"]["backend"] == "smollm2"


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_pinning_a_cloud_backend_for_a_request_that_must_stay_local_is_a_400_with_the_fix(served, stream):
    base, backends, trace = served
    oa, an = clients(base)
    ask = [{"role": "user", "content": f"token {GITHUB} fails"}]
    fix = "fix: use model 'hybrid' .routed: it stays local. or a local backend .smollm2., or remove the GitHub Token"
    with pytest.raises(openai.BadRequestError) as caught:
        reply = oa.chat.completions.create(model="opus", messages=ask, stream=stream)
        list(reply) if stream else reply
    assert caught.value.status_code == 400
    assert caught.value.body["message"].startswith(
        "model 'opus' is a cloud backend, but this request must stay local (GitHub Token in message 1); ")
    assert caught.value.body["type"] == "invalid_request_error"
    with pytest.raises(anthropic.BadRequestError, match=f"model 'opus' is a cloud backend.*{fix}") as caught:
        if stream:
            with an.messages.stream(model="opus", max_tokens=9, messages=ask) as events:
                list(events)
        else:
            an.messages.create(model="opus", max_tokens=9, messages=ask)
    assert caught.value.status_code == 400
    assert not backends["opus"].history
    (row, *_) = trace.recent(1)
    assert row.status == "failed" and "must stay local" in row.error and GITHUB not in row.error


def test_a_secret_in_the_anthropic_system_field_is_named_as_in_the_system_prompt(served):
    base, _, _ = served
    _, an = clients(base)
    with pytest.raises(anthropic.BadRequestError, match=r"stay local \(AWS Access Key in the system prompt\)"):
        an.messages.create(model="opus", max_tokens=9, system=f"Use {AWS} for S3.", messages=HARD)
    routed = an.messages.create(model="hybrid", max_tokens=9, system=f"Use {AWS} for S3.", messages=HARD)
    assert "local-only: AWS Access Key in the system prompt" in routed.model_extra["x_hybrid"]["decision"]["reasons"]
