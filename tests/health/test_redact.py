"""Nothing secret, multi-line or unbounded leaves a probe (the endpoint is anonymous)."""

from __future__ import annotations

import asyncio

from elb_upgrade.health import Probe, Readiness
from elb_upgrade.health.redact import MASK, describe, redact, safe_text

KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
SAS = "https://acct.blob.core.windows.net/c?sv=2022-11-02&sr=c&sig=AbC%2Bdef%3D123&se=2030"
JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhcHAifQ.c2lnbmF0dXJl"


def test_sas_signature_is_masked_and_other_parameters_kept() -> None:
    out = redact(SAS)
    assert "AbC%2Bdef%3D123" not in out
    assert f"sig={MASK}" in out and "sv=2022-11-02" in out and "se=2030" in out


def test_account_key_in_connection_string_is_masked() -> None:
    out = redact(f"DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={KEY};Suffix=x")
    assert KEY not in out and "AccountName=acct" in out and f"AccountKey={MASK};" in out


def test_password_in_url_is_masked_with_and_without_user() -> None:
    assert redact("redis://:s3cret@cache:6379/0") == f"redis://:{MASK}@cache:6379/0"
    assert redact("amqp://user:p%40ss@mq/vhost") == f"amqp://user:{MASK}@mq/vhost"


def test_url_without_password_is_unchanged() -> None:
    assert redact("http://127.0.0.1:8080/health") == "http://127.0.0.1:8080/health"


def test_bearer_token_and_jwt_are_masked() -> None:
    assert redact("Authorization: Bearer abc.DEF-123_x=") == f"Authorization: Bearer {MASK}"
    assert JWT not in redact(f"token {JWT} rejected")


def test_safe_text_folds_lines_and_bounds_length() -> None:
    out = safe_text("line one\n  line two\tend " + "x" * 500)
    assert "\n" not in out and out.startswith("line one line two end")
    assert len(out) == 200


def test_redaction_happens_before_truncation() -> None:
    # The key straddles the 200-char cut: truncating first would leak its first half.
    out = safe_text("e" * 170 + f" AccountKey={KEY}")
    assert KEY[:20] not in out


def test_describe_uses_class_name_for_empty_or_broken_messages() -> None:
    class Broken(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no")

    assert describe(TimeoutError()) == "TimeoutError"
    assert describe(Broken()) == "Broken"


def test_every_secret_form_is_masked_in_the_readiness_body() -> None:
    def leaky() -> None:
        raise ConnectionError(
            f"cannot reach redis://:pw123@cache:6379 with AccountKey={KEY};\n"
            f"Traceback (most recent call last):\n  sas {SAS} Bearer {JWT}"
        )

    report = asyncio.run(Readiness(version="1", probes=[Probe("leaky", leaky)]).check())
    text = str(report.body)
    for secret in ("pw123", KEY, "AbC%2Bdef%3D123", JWT):
        assert secret not in text
    error = report.body["components"]["leaky"]["error"]
    assert "\n" not in error and len(error) <= 200
