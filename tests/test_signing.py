"""Signature verdicts against Slack's published example, forged, stale, missing and odd inputs."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from slacklab.http.signing import VERDICTS, check_secret, sign, verify
from slacklab.redact import mask_text

# Slack's published worked example (docs/slack-protocol.md, signing), also used by slack_sdk's own tests.
SLACK_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
SLACK_TS = 1531420618
SLACK_BODY = (
    b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
    b"&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
    b"&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
    b"&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
)
SLACK_SIGNATURE = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
SLACK_HEADERS = {"X-Slack-Request-Timestamp": str(SLACK_TS), "X-Slack-Signature": SLACK_SIGNATURE}

FAKE = "sim-signing-secret-not-real"


class TestPublishedExample:
    def test_sign_reproduces_slacks_signature(self) -> None:
        assert sign(SLACK_SECRET, SLACK_TS, SLACK_BODY) == SLACK_HEADERS

    def test_valid_at_capture_time(self) -> None:
        assert verify(SLACK_SECRET, SLACK_HEADERS, SLACK_BODY, captured_at=SLACK_TS + 2) == "valid"

    def test_window_is_judged_against_capture_time_not_today(self) -> None:
        # captured in 2018, checked today: still valid because the clock is the capture time
        assert verify(SLACK_SECRET, SLACK_HEADERS, SLACK_BODY, SLACK_TS) == "valid"

    def test_exactly_300_seconds_is_valid_301_is_stale(self) -> None:
        assert verify(SLACK_SECRET, SLACK_HEADERS, SLACK_BODY, SLACK_TS + 300) == "valid"
        assert verify(SLACK_SECRET, SLACK_HEADERS, SLACK_BODY, SLACK_TS - 300) == "valid"
        assert verify(SLACK_SECRET, SLACK_HEADERS, SLACK_BODY, SLACK_TS + 301) == "stale"
        assert verify(SLACK_SECRET, SLACK_HEADERS, SLACK_BODY, SLACK_TS - 301) == "stale"

    def test_altered_body_is_invalid(self) -> None:
        assert verify(SLACK_SECRET, SLACK_HEADERS, SLACK_BODY + b"------", SLACK_TS) == "invalid"

    def test_forged_and_old_is_invalid_not_stale(self) -> None:
        assert verify(SLACK_SECRET, SLACK_HEADERS, SLACK_BODY + b"x", SLACK_TS + 3600) == "invalid"

    def test_wrong_secret_is_invalid(self) -> None:
        assert verify(FAKE, SLACK_HEADERS, SLACK_BODY, SLACK_TS) == "invalid"

    def test_header_names_are_case_insensitive(self) -> None:
        headers = [("x-slack-request-timestamp", str(SLACK_TS)), ("X-SLACK-SIGNATURE", SLACK_SIGNATURE)]
        assert verify(SLACK_SECRET, headers, SLACK_BODY, SLACK_TS) == "valid"


class TestVerdicts:
    def test_missing_headers(self) -> None:
        assert verify(FAKE, {}, b"{}", 1.0) == "missing"
        assert verify(FAKE, {"X-Slack-Signature": "v0=00"}, b"{}", 1.0) == "missing"
        assert verify(FAKE, {"X-Slack-Request-Timestamp": "1"}, b"{}", 1.0) == "missing"

    def test_unchecked_without_secret(self) -> None:
        assert verify(None, SLACK_HEADERS, SLACK_BODY, SLACK_TS) == "unchecked"

    def test_garbage_timestamp_or_signature_is_invalid(self) -> None:
        for ts, sig in (
            ("soon", SLACK_SIGNATURE),
            ("-5", SLACK_SIGNATURE),
            ("1" * 40, SLACK_SIGNATURE),
            (str(SLACK_TS), "v0=é"),
        ):
            headers = {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": sig}
            assert verify(SLACK_SECRET, headers, SLACK_BODY, SLACK_TS) == "invalid"

    def test_rebuilt_body_mismatch_is_unverifiable(self) -> None:
        rebuilt = SLACK_BODY.replace(b"%2F", b"/")
        assert verify(SLACK_SECRET, SLACK_HEADERS, rebuilt, SLACK_TS, exact_body=False) == "unverifiable"
        assert verify(SLACK_SECRET, SLACK_HEADERS, SLACK_BODY, SLACK_TS, exact_body=False) == "valid"

    def test_non_utf8_body_is_hashed_as_bytes(self) -> None:
        body = b"payload=\xff\xfe"
        headers = sign(FAKE, 1_700_000_000, body)
        assert verify(FAKE, headers, body, 1_700_000_000) == "valid"
        assert verify(FAKE, headers, body, 1_700_000_400) == "stale"
        assert verify(FAKE, headers, body + b"!", 1_700_000_000) == "invalid"

    def test_non_ascii_utf8_body_round_trips(self) -> None:
        body = "text=Grüße+日本語&command=%2Fpoll".encode()
        assert verify(FAKE, sign(FAKE, 1_700_000_000, body), body, 1_700_000_010) == "valid"


class TestSecrets:
    def test_secret_is_masked_once_used(self) -> None:
        secret = "sim-signing-secret-not-real-masking"
        sign(secret, 1, b"")
        assert secret not in mask_text(f"oops the secret is {secret}")

    @pytest.mark.parametrize("bad", ["", "   ", 123, b"bytes"])
    def test_bad_secret_is_refused_without_echo(self, bad: object) -> None:
        with pytest.raises(ValueError) as info:
            check_secret(bad)  # type: ignore[arg-type]
        assert "bytes" not in str(info.value)

    def test_sign_needs_a_secret(self) -> None:
        with pytest.raises(ValueError):
            sign(None, 1, b"")  # type: ignore[arg-type]


@settings(max_examples=200, deadline=None)
@given(
    ts=st.text(max_size=20),
    sig=st.text(max_size=80),
    body=st.binary(max_size=200),
    at=st.floats(allow_nan=False, allow_infinity=False, min_value=-1e12, max_value=1e12),
)
def test_verify_never_raises(ts: str, sig: str, body: bytes, at: float) -> None:
    headers = {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": sig}
    assert verify(FAKE, headers, body, at) in VERDICTS
