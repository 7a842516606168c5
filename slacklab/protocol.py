"""Socket Mode protocol core: pure functions for frames, acks and per-frame decisions.

Nothing here touches a socket, a thread, a clock or a random generator: the
listener (``slacklab.listener``) feeds text in and acts on what comes out, and
the tests drive every branch directly. Which connections to keep is the
:mod:`slacklab.supervisor`'s job, built on the decisions here. The rules come
from Slack's Socket Mode guide and the official SDKs (``docs/slack-protocol.md``):

* every frame with an ``envelope_id`` is acknowledged with
  ``{"envelope_id": ...}``, whatever its type, so Slack never retries it;
* ``hello`` marks a connection as ready; ``num_connections`` > 1 means another
  consumer shares the app's events;
* ``disconnect`` ``warning`` / ``refresh_requested`` (and reasons we do not
  know) ask for a fresh connection: open the new one *before* closing the old;
* ``too_many_websockets`` means close first, back off, then reconnect;
* ``link_disabled`` means Socket Mode was turned off: stop;
* malformed text never raises: it becomes a :class:`Malformed` frame.

The ack path reads only what the ack needs, with :func:`peek_envelope` (a
``msgspec`` decoder that skips everything but ``type`` and ``envelope_id``) and
:func:`ack_for`; the full :func:`parse_frame` runs later, in the store, and for
the rare ``hello`` / ``disconnect`` frames::

    envelope_id, is_control = peek_envelope(raw)
    if envelope_id is not None:
        send(ack_for(envelope_id))      # after journaling raw
    if is_control:
        frame = parse_frame(raw)        # Hello or Disconnect: tell the supervisor
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import Enum
from typing import Any

import msgspec

__all__ = [
    "FATAL_API_ERRORS",
    "Action",
    "Decision",
    "Disconnect",
    "Envelope",
    "Frame",
    "Hello",
    "Malformed",
    "Unknown",
    "ack_for",
    "backoff_delays",
    "build_ack",
    "decide_api_error",
    "decide_connection_lost",
    "decide_disconnect",
    "describe_close",
    "parse_frame",
    "peek_envelope",
]


# --------------------------------------------------------------------- frames


@dataclass(frozen=True, slots=True)
class Hello:
    """Slack's greeting on a new connection."""

    num_connections: int | None
    app_id: str | None
    host: str | None
    approximate_connection_time: int | None


@dataclass(frozen=True, slots=True)
class Envelope:
    """A delivery that must be acknowledged (``events_api``, ``slash_commands``, ``interactive``…)."""

    envelope_id: str
    type: str
    payload: dict[str, Any]
    accepts_response_payload: bool = False
    retry_attempt: int = 0
    retry_reason: str = ""
    replayed: bool = False
    """``"slacklab_replay": true`` in the envelope: sent again by ``slacklab.replay``, not by Slack."""


@dataclass(frozen=True, slots=True)
class Disconnect:
    """Slack asks us to leave this connection; ``reason`` says why."""

    reason: str
    host: str | None = None


@dataclass(frozen=True, slots=True)
class Malformed:
    """Text that is not a frame we can use (bad JSON, wrong shape). Kept, never raised."""

    text: str
    problem: str


@dataclass(frozen=True, slots=True)
class Unknown:
    """A well-formed JSON object of a ``type`` we do not know and without an envelope id."""

    type: str
    data: dict[str, Any]


Frame = Hello | Envelope | Disconnect | Malformed | Unknown


_INT_LIMIT = 2**31  # counts and attempts: anything this large is garbage (and would not fit a table column)


def _int_or_none(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and len(value) < 20 and value.strip().lstrip("-").isdecimal():
        try:
            number = int(value)
        except ValueError:  # "--5" and the like
            return None
    else:
        return None
    return number if -_INT_LIMIT < number < _INT_LIMIT else None


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def parse_frame(text: str | bytes) -> Frame:
    """Parse one WebSocket text frame from Slack. Never raises.

    Returns a :class:`Hello`, :class:`Envelope`, :class:`Disconnect`,
    :class:`Unknown` or, for anything unusable, :class:`Malformed` with the
    problem in plain words.
    """
    if isinstance(text, bytes | bytearray):
        data_bytes = bytes(text)
        try:
            text = data_bytes.decode("utf-8")
        except UnicodeDecodeError:
            return Malformed(data_bytes.decode("utf-8", "replace"), "frame is not valid UTF-8")
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        return Malformed(text, f"not JSON ({exc.__class__.__name__}: {str(exc)[:80]})")
    if not isinstance(data, dict):
        return Malformed(text, f"JSON {type(data).__name__}, expected an object")
    kind = data.get("type")
    envelope_id = data.get("envelope_id")
    if envelope_id is not None:
        if not isinstance(envelope_id, str) or not envelope_id:
            return Malformed(text, "envelope_id is not a non-empty string")
        payload = data.get("payload")
        if payload is None:
            payload = {}
        if not isinstance(payload, dict):
            return Malformed(text, "envelope payload is not an object")
        retry = _int_or_none(data.get("retry_attempt"))
        return Envelope(
            envelope_id=envelope_id,
            type=kind if isinstance(kind, str) and kind else "unknown",
            payload=payload,
            accepts_response_payload=data.get("accepts_response_payload") is True,
            retry_attempt=retry if retry is not None and retry >= 0 else 0,
            retry_reason=_str_or_none(data.get("retry_reason")) or "",
            replayed=data.get("slacklab_replay") is True,
        )
    debug = data.get("debug_info")
    debug = debug if isinstance(debug, dict) else {}
    if kind == "hello":
        info = data.get("connection_info")
        info = info if isinstance(info, dict) else {}
        return Hello(
            num_connections=_int_or_none(data.get("num_connections")),
            app_id=_str_or_none(info.get("app_id")),
            host=_str_or_none(debug.get("host")),
            approximate_connection_time=_int_or_none(debug.get("approximate_connection_time")),
        )
    if kind == "disconnect":
        reason = data.get("reason")
        return Disconnect(
            reason=reason if isinstance(reason, str) and reason else "unknown",
            host=_str_or_none(debug.get("host")),
        )
    if not isinstance(kind, str) or not kind:
        return Malformed(text, "object has neither a type nor an envelope_id")
    return Unknown(kind, data)


def build_ack(envelope_id: str, payload: dict[str, Any] | None = None) -> str:
    """The acknowledgement Slack expects for an envelope: ``{"envelope_id": ...}``.

    ``payload`` (optional) is the response body for slash commands and
    interactivity, sent only when given.
    """
    ack: dict[str, Any] = {"envelope_id": envelope_id}
    if payload is not None:
        ack["payload"] = payload
    return json.dumps(ack, separators=(",", ":"))


# ------------------------------------------------------------- the ack path


class _Head(msgspec.Struct):
    """The fields the ack needs; msgspec skips every other key without building it.

    ``payload`` stays raw JSON text: only its first byte is looked at (an object or null).
    """

    type: str = ""
    envelope_id: str | None = None
    payload: msgspec.Raw = msgspec.Raw(b"")


# Chosen by measurement (benchmarks/results/listener.md, "header decoders"): decoding into
# this Struct costs ~0.5 µs for a 1 kB frame, against ~1.8 µs for orjson.loads and
# ~5 µs for json.loads, because msgspec builds no objects for the payload it skips.
_head_decoder = msgspec.json.Decoder(_Head)

_CONTROL_TYPES = frozenset({"hello", "disconnect"})
_PAYLOAD_STARTS = frozenset({b"{", b"n", b""})  # an object, null, or no payload at all


def peek_envelope(raw: str | bytes) -> tuple[str | None, bool]:
    """What the ack path needs from a frame: ``(envelope_id, is_control)``. Never raises.

    ``envelope_id`` is the id to acknowledge (``None``: send no ack), exactly
    when :func:`parse_frame` would return an :class:`Envelope`.
    ``is_control`` is True for ``hello`` and ``disconnect`` frames: parse those
    fully with :func:`parse_frame`. Nothing else of the frame is decoded.
    """
    try:
        head = _head_decoder.decode(raw)
    except (ValueError, RecursionError):  # msgspec.DecodeError is a ValueError
        # not JSON, not an object, or a field of an odd type: the full parser decides
        frame = parse_frame(raw)
        return (frame.envelope_id if isinstance(frame, Envelope) else None), False
    envelope_id = head.envelope_id
    if envelope_id is None:
        return None, head.type in _CONTROL_TYPES
    if not envelope_id or memoryview(head.payload)[:1].tobytes() not in _PAYLOAD_STARTS:
        return None, False  # an empty id or a payload that is not an object: malformed, no ack
    return envelope_id, False


def ack_for(envelope_id: str) -> str:
    """The ack text for ``envelope_id``; the same text as ``build_ack(envelope_id)``, built faster."""
    if envelope_id.isascii() and envelope_id.isprintable() and '"' not in envelope_id and "\\" not in envelope_id:
        return '{"envelope_id":"' + envelope_id + '"}'
    return build_ack(envelope_id)


# ------------------------------------------------------------------ decisions


class Action(Enum):
    """What the listener should do next."""

    CONTINUE = "continue"
    """Keep reading this connection."""
    REPLACE = "replace"
    """Open a new connection now; keep reading this one until it drains (see the supervisor)."""
    RECONNECT = "reconnect"
    """Close this connection, wait ``delay``/backoff, then open a new one."""
    STOP = "stop"
    """Stop listening; ``Decision.explanation`` says why."""


@dataclass(frozen=True, slots=True)
class Decision:
    """An action plus the plain-words reason for it."""

    action: Action
    reason: str = ""
    explanation: str = ""
    delay: float | None = None
    """Seconds to wait first, when Slack said so (``Retry-After``); else use the backoff."""


_CONTINUE = Decision(Action.CONTINUE)

_DISCONNECT_EXPLANATIONS = {
    "warning": "Slack will refresh this connection in about 10 seconds; opening a new one first.",
    "refresh_requested": "Slack asked for a fresh connection; opening a new one before closing this one.",
    "too_many_websockets": (
        "Slack says this app has too many open connections (10 at most); "
        "closing this one and backing off before reconnecting."
    ),
    "link_disabled": (
        "Slack disabled the link: Socket Mode was turned off for this app "
        "(app settings → Socket Mode). Turn it back on and start the listener again."
    ),
}


def decide_disconnect(reason: str) -> Decision:
    """What to do on a ``disconnect`` frame with this ``reason``."""
    if reason == "link_disabled":
        return Decision(Action.STOP, reason, _DISCONNECT_EXPLANATIONS[reason])
    if reason == "too_many_websockets":
        return Decision(Action.RECONNECT, reason, _DISCONNECT_EXPLANATIONS[reason])
    explanation = _DISCONNECT_EXPLANATIONS.get(
        reason, f"Slack sent disconnect reason {reason!r}; treating it as a refresh."
    )
    return Decision(Action.REPLACE, reason, explanation)


_CLOSE_CODES = {
    1000: "closed normally",
    1001: "the server went away",
    1006: "dropped without a close frame (network or server failure)",
    1009: "a frame was too large",
    1011: "server error or no pong in time",
    1012: "the server is restarting",
}


def describe_close(code: int | None, reason: str = "") -> str:
    """Plain words for a WebSocket close code (and the peer's reason, if any)."""
    if code is None:
        return "connection lost" + (f" ({reason})" if reason else "")
    words = _CLOSE_CODES.get(code, "closed")
    return f"{words} (code {code}{': ' + reason if reason else ''})"


def decide_connection_lost(code: int | None, reason: str = "") -> Decision:
    """What to do when the socket closed or went silent without a ``disconnect`` frame."""
    return Decision(Action.RECONNECT, "connection_lost", f"{describe_close(code, reason)}; reconnecting with backoff.")


#: apps.connections.open errors that no retry can fix (token or workspace problems).
FATAL_API_ERRORS: dict[str, str] = {
    "not_authed": "No app token reached Slack.",
    "invalid_auth": "Slack rejected the app token (invalid_auth). Check SLACK_APP_TOKEN.",
    "account_inactive": "The app's token belongs to a deleted user or workspace.",
    "token_revoked": "The app token was revoked. Generate a new app-level token.",
    "token_expired": "The app token expired. Generate a new app-level token.",
    "user_removed_from_team": "The token's user was removed from the workspace.",
    "team_disabled": "The workspace is disabled.",
    "missing_args": "No app-level token was provided.",
    "not_allowed_token_type": (
        "This token type cannot open Socket Mode connections: use an app-level "
        "xapp- token with the connections:write scope."
    ),
    "missing_scope": "The app token lacks the connections:write scope.",
    "forbidden_team": "This workspace may not use this app.",
    "access_denied": "Access denied by the workspace.",
    "ekm_access_denied": "Access denied by the workspace's key management.",
    "enterprise_is_restricted": "The enterprise restricts this method.",
    "deprecated_endpoint": "apps.connections.open is no longer available here.",
    "invalid_arguments": "Slack rejected the request's arguments.",
    "no_permission": "The token has no permission to open Socket Mode connections.",
}


def decide_api_error(error: str, retry_after: float | None = None) -> Decision:
    """What to do when ``apps.connections.open`` fails with Slack error ``error``.

    ``ratelimited`` waits ``retry_after`` seconds (30 when Slack gave none);
    known token and workspace errors stop; anything else (``internal_error``,
    network trouble) retries with backoff.
    """
    if error == "ratelimited":
        delay = retry_after if retry_after is not None and retry_after >= 0 else 30.0
        return Decision(
            Action.RECONNECT,
            error,
            f"apps.connections.open is rate limited; retrying in {delay:g} s as Slack asked.",
            delay=delay,
        )
    if error in FATAL_API_ERRORS:
        return Decision(Action.STOP, error, f"apps.connections.open failed: {error}. {FATAL_API_ERRORS[error]}")
    return Decision(Action.RECONNECT, error, f"apps.connections.open failed ({error}); retrying with backoff.")


def backoff_delays(
    uniform: Callable[[], float], initial: float = 0.5, factor: float = 2.0, cap: float = 30.0
) -> Iterator[float]:
    """Endless jittered exponential backoff: ``initial``, ×``factor`` per try, at most ``cap``.

    Each delay is scaled by a random factor in [0.5, 1.0) from ``uniform()``
    (a callable returning floats in [0, 1), such as ``random.Random(0).random``)
    so that many clients restarting together do not reconnect in lockstep.
    """
    ceiling = initial
    while True:
        yield min(cap, ceiling) * (0.5 + 0.5 * uniform())
        ceiling = min(cap, ceiling * factor)
