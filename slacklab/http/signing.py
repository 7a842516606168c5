"""Slack request signatures: verdicts for captured requests, and signing for the simulator.

Slack signs every HTTP request with ``X-Slack-Signature: v0=<hex>``, the
HMAC-SHA256 of ``v0:<X-Slack-Request-Timestamp>:<raw body>`` keyed with the
app's signing secret, and asks receivers to refuse timestamps more than five
minutes from *now* (replays). For a captured log, *now* is the moment the
request was captured, not today: :func:`verify` judges the window against the
request's own capture time, so yesterday's logs still verify.

Verdicts (the ``signature`` column of the delivery schema):

===============  ==============================================================
``valid``        the HMAC matches and the timestamp is within 300 s of capture
``invalid``      the HMAC does not match (forged, altered, or the wrong secret)
``stale``        the HMAC matches but the timestamp is more than 300 s away
                 from the capture time (a replayed or badly delayed request)
``missing``      no ``X-Slack-Signature`` or no ``X-Slack-Request-Timestamp``
``unchecked``    no signing secret was given, so nothing was checked
``unverifiable`` the HMAC does not match, but the capture tool did not keep the
                 exact body bytes (a HAR with only ``postData.params``), so a
                 genuine request could fail too
===============  ==============================================================

Exactly 300 s is still valid (Slack's SDK rejects ``> 300``). A wrong HMAC
is ``invalid`` even when the timestamp is also old: forged beats stale.

Typical use::

    verdict = verify(secret, headers, body_bytes, captured_at)   # the readers and the receiver
    headers = sign(secret, int(time.time()), body_bytes)         # the simulator's HTTP side

Signing secrets passed here are registered with :func:`slacklab.redact.register_secret`,
so they are masked in every repr, log line, DataFrame, export and exception.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from typing import Final

from slack_sdk.signature import Clock, SignatureVerifier

from slacklab.redact import register_secret

__all__ = [
    "INVALID",
    "MAX_SKEW_SECONDS",
    "MISSING",
    "STALE",
    "UNCHECKED",
    "UNVERIFIABLE",
    "VALID",
    "VERDICTS",
    "check_secret",
    "sign",
    "verify",
]

VALID: Final = "valid"
INVALID: Final = "invalid"
STALE: Final = "stale"
MISSING: Final = "missing"
UNCHECKED: Final = "unchecked"
UNVERIFIABLE: Final = "unverifiable"
VERDICTS: tuple[str, ...] = (VALID, INVALID, STALE, MISSING, UNCHECKED, UNVERIFIABLE)
"""Every value the ``signature`` column can hold (besides empty for Socket Mode rows)."""

MAX_SKEW_SECONDS: Final = 300
"""Slack's replay window: a timestamp more than this far from the capture time is stale."""

_TIMESTAMP_HEADER = "x-slack-request-timestamp"
_SIGNATURE_HEADER = "x-slack-signature"


class _FixedClock(Clock):
    """slack_sdk's clock, stopped at the request's capture time."""

    def __init__(self, now: float) -> None:
        self._now = now

    def now(self) -> float:
        return self._now


def check_secret(secret: str | None) -> str | None:
    """Return a usable signing secret (or ``None``), registered for masking.

    Raises:
        ValueError: the secret is not a non-empty string (its value is never shown).
    """
    if secret is None:
        return None
    if not isinstance(secret, str) or not secret.strip():
        raise ValueError("signing_secret must be a non-empty string (from your app's Basic Information page)")
    register_secret(secret)
    return secret


class LoweredHeaders(dict[str, str]):
    """Headers as :func:`lower_headers` returns them: names lower-cased, the first value of each."""


def lower_headers(headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> LoweredHeaders:
    """Header names lower-cased; the first value wins when a name repeats (already lowered: as is)."""
    if type(headers) is LoweredHeaders:
        return headers
    items = headers.items() if isinstance(headers, Mapping) else headers
    out = LoweredHeaders()
    for name, value in items:
        out.setdefault(str(name).lower(), str(value))
    return out


def _expected(verifier: SignatureVerifier, timestamp: str, body: bytes) -> str:
    """The ``v0=`` signature Slack would send for this body.

    slack_sdk decodes the body as UTF-8 before hashing, which is byte-exact for
    every UTF-8 body (all of Slack's are). A body that is not UTF-8 cannot be
    passed through it, so for that case only we hash the raw bytes ourselves,
    exactly as Slack's algorithm describes.
    """
    try:
        expected = verifier.generate_signature(timestamp=timestamp, body=body)
    except UnicodeDecodeError:
        expected = None
    if expected is None:
        digest = hmac.new(
            verifier.signing_secret.encode(), b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256
        ).hexdigest()
        expected = f"v0={digest}"
    return expected


def verify(
    secret: str | None,
    headers: Mapping[str, str] | Iterable[tuple[str, str]],
    body: bytes,
    captured_at: float,
    *,
    exact_body: bool = True,
) -> str:
    """The signature verdict of one request (see the module docstring for the values).

    Args:
        secret: the app's signing secret; ``None`` gives ``"unchecked"``.
        headers: the request headers (a mapping or ``(name, value)`` pairs; names
            are case-insensitive).
        body: the exact raw body bytes, before any JSON or form decoding.
        captured_at: when the request was captured (epoch seconds); the replay
            window is judged against this, not against today's clock.
        exact_body: ``False`` when the body was rebuilt by a capture tool rather
            than kept byte for byte; a mismatch is then ``"unverifiable"``.
    """
    secret = check_secret(secret)
    if secret is None:
        return UNCHECKED
    lowered = lower_headers(headers)
    timestamp = lowered.get(_TIMESTAMP_HEADER, "").strip()
    signature = lowered.get(_SIGNATURE_HEADER, "").strip()
    if not timestamp or not signature:
        return MISSING
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12) or not signature.isascii():
        return INVALID  # Slack sends Unix seconds and a hex digest; anything else is not Slack's
    # The verdict of SignatureVerifier.is_valid (its clock stopped at the capture time), then
    # why not: one HMAC through slack_sdk's generate_signature serves both (is_valid would
    # compute it, and a failure needed it again to tell forged from stale).
    verifier = SignatureVerifier(secret, clock=_FixedClock(captured_at))
    if not hmac.compare_digest(_expected(verifier, timestamp, body), signature):
        return INVALID if exact_body else UNVERIFIABLE
    if abs(captured_at - int(timestamp)) > MAX_SKEW_SECONDS:
        return STALE
    return VALID


def sign(secret: str, timestamp: int | str, body: bytes) -> dict[str, str]:
    """The two headers Slack adds to a request: ``X-Slack-Request-Timestamp`` and ``X-Slack-Signature``.

    Used by :mod:`slacklab.sim.http_sender` (with an obviously fake secret) so
    the receiver and the readers can check simulated requests like real ones.
    """
    checked = check_secret(secret)
    if checked is None:
        raise ValueError("sign() needs a signing secret")
    ts = str(int(timestamp))
    verifier = SignatureVerifier(checked)
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": _expected(verifier, ts, body)}
