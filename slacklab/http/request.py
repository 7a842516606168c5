"""One captured HTTP request → one delivery row (pure: no I/O).

A :class:`CapturedRequest` is what every HTTP source boils down to — a HAR
entry (:mod:`slacklab.http.har`), an ngrok capture (:mod:`slacklab.http.ngrok`), a line
of slacklab's own log or a live request at the receiver
(:mod:`slacklab.http.receiver`): capture time, method, headers, the exact body
bytes and, when recorded, the response status and time. :func:`parse_request`
turns it into a row of the delivery schema, so the live receiver and a
reloaded log give the same rows.

Bodies and their kinds (the Socket Mode envelope vocabulary where there is one,
so :func:`slacklab.schema.payload_fields` fills the same columns):

==========================================  ======================
JSON ``{"type": "event_callback", ...}``    ``events_api``
JSON ``url_verification``                   ``url_verification``
JSON ``app_rate_limited``                   ``app_rate_limited``
form with ``command=/...``                  ``slash_commands``
form ``payload=<json>``                     ``interactive``
form ``ssl_check=1``                        ``ssl_check``
==========================================  ======================

Forms are decoded with :func:`urllib.parse.parse_qs` (``+`` and ``%20`` both
mean a space); the raw bytes are kept for the signature.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

from slacklab.http.signing import lower_headers, verify
from slacklab.schema import make_row

__all__ = [
    "CapturedRequest",
    "EntryError",
    "ParsedRequest",
    "classify_body",
    "duration",
    "epoch_seconds",
    "header",
    "header_pairs",
    "parse_request",
    "recognise",
    "request_row",
]

_MAX_FORM_FIELDS = 1000
_LATEST = 9.0e9  # epoch seconds in 2255: pandas' nanosecond timestamps end in 2262
_FORM_TYPE = "application/x-www-form-urlencoded"
_SLACK_KINDS = frozenset(
    {"events_api", "url_verification", "app_rate_limited", "slash_commands", "interactive", "ssl_check"}
)


class EntryError(Exception):
    """One entry or line of a log is unusable; the message says why in plain words."""


@dataclass(frozen=True, slots=True)
class CapturedRequest:
    """An HTTP request as a capture tool (or the receiver) recorded it.

    ``exact_body`` is False when the tool kept only a rebuilt body (a HAR with
    ``postData.params`` and no text), so a failing signature is ``unverifiable``.
    """

    at: float
    method: str
    target: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    status: int | None = None
    response_ms: float | None = None
    exact_body: bool = True
    body_json: Any = None
    """The body already parsed as JSON by whoever read it (``None``: not parsed yet)."""

    def describe(self) -> str:
        """``POST /slack/events`` plus the start of the body, for problem rows."""
        return f"{self.method} {self.target}\n{self.body[:1500].decode('utf-8', 'replace')}"


@dataclass(frozen=True, slots=True)
class ParsedRequest:
    """What one request is: a delivery ``row``, or ``problem`` says why not.

    ``slack`` is False for requests that are not Slack's at all (skipped and
    counted); a Slack request whose body cannot be used has ``slack=True``,
    ``row=None`` and a ``problem``.
    """

    row: dict[str, Any] | None
    slack: bool
    problem: str | None = None


# ----------------------------------------------------------------- helpers


def header(headers: Iterable[tuple[str, str]], name: str) -> str | None:
    """The first value of header ``name`` (case-insensitive), or None."""
    name = name.lower()
    for key, value in headers:
        if key.lower() == name:
            return value
    return None


def header_pairs(raw: Any) -> tuple[tuple[str, str], ...]:
    """Headers from ``{"name", "value"}`` objects, ``[name, value]`` pairs or a ``{name: value(s)}`` map.

    Raises:
        EntryError: a header has neither shape.
    """
    if raw is None:
        return ()
    if isinstance(raw, Mapping):
        items: Iterable[Any] = [[k, v] for k, v in raw.items()]
    elif isinstance(raw, list):
        items = raw
    else:
        raise EntryError("headers are neither a list nor an object")
    out: list[tuple[str, str]] = []
    for h in items:
        if type(h) is list and len(h) == 2 and type(h[0]) is str and type(h[1]) is str:
            out.append((h[0], h[1]))  # slacklab's own log: [name, value] (the common cases, made cheap)
            continue
        if type(h) is dict and type(h.get("name")) is str and type(h.get("value", "")) is str:
            out.append((h["name"], h.get("value", "")))  # HAR: {"name", "value"}
            continue
        if isinstance(h, Mapping) and isinstance(h.get("name"), str):
            name, value = h["name"], h.get("value", "")
        elif isinstance(h, list | tuple) and len(h) == 2 and isinstance(h[0], str):
            name, value = h
        else:
            raise EntryError(f"a header is neither {{name, value}} nor [name, value] (a {type(h).__name__})")
        values = value if isinstance(value, list) else [value]  # ngrok keeps a list per name
        out.extend((name, str(v)) for v in values)
    return tuple(out)


def epoch_seconds(value: Any, what: str) -> float:
    """Epoch seconds from a number or an ISO 8601 string (naive times are UTC).

    Raises:
        EntryError: ``what`` is missing or not a time.
    """
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise EntryError(f"{what} {value[:40]!r} is not an ISO 8601 time") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        seconds = moment.timestamp()
    else:
        raise EntryError(f"{what} is missing")
    if not 0 <= seconds < _LATEST:  # NaN fails too
        raise EntryError(f"{what} {str(value)[:40]!r} is not a time between 1970 and 2255")
    return seconds


def duration(value: Any) -> float | None:
    """A duration as recorded (ms in HAR, ns in ngrok): a finite number >= 0, or None."""
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value < 1e18:
        return float(value)
    return None


def _form(text: str) -> dict[str, str] | None:
    try:
        fields = parse_qs(text, keep_blank_values=True, max_num_fields=_MAX_FORM_FIELDS)
    except ValueError:
        return None
    return {k: v[0] for k, v in fields.items()}


# ---------------------------------------------------------------- the body


def _json_kind(data: Any) -> tuple[str, dict[str, Any]] | None:
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        return None
    return ("events_api" if data["type"] == "event_callback" else data["type"]), data


def classify_body(content_type: str | None, body: bytes, parsed: Any = None) -> tuple[str, dict[str, Any]] | None:
    """``(kind, payload)`` when ``body`` is a JSON object with a ``type`` or one of Slack's forms.

    Never raises. JSON objects with other ``type`` values come back with that
    type as the kind; :func:`parse_request` only trusts those when the
    request also carries ``X-Slack-*`` headers. ``parsed``: the body already
    parsed as JSON (a log that embeds it), so it is not parsed twice.
    """
    if isinstance(parsed, dict):
        return _json_kind(parsed)
    text = body.decode("utf-8", "replace")
    ctype = (content_type or "").lower()
    if "json" in ctype or text.lstrip().startswith("{"):
        try:
            data = json.loads(text)
        except (ValueError, RecursionError):
            return None
        return _json_kind(data)
    if _FORM_TYPE not in ctype and "=" not in text:
        return None
    form = _form(text)
    if not form:
        return None
    if "payload" in form:
        try:
            payload = json.loads(form["payload"])
        except (ValueError, RecursionError):
            return None
        ok = isinstance(payload, dict) and isinstance(payload.get("type"), str)
        return ("interactive", payload) if ok else None
    if form.get("command", "").startswith("/"):
        return "slash_commands", dict(form)
    if form.get("ssl_check") == "1":
        return "ssl_check", dict(form)
    return None


def recognise(request: CapturedRequest) -> tuple[str, dict[str, Any]] | ParsedRequest:
    """``(kind, payload)`` when the request is a Slack delivery, else the :class:`ParsedRequest` saying why not.

    The cheap half of :func:`parse_request`: no row, no signature check (a log
    reader sorts requests with it, and builds rows later with :func:`request_row`).
    """
    headers = lower_headers(request.headers)  # the first value of each name, as header() finds it
    from_slack = any(k.startswith("x-slack-") for k in headers)
    found = classify_body(headers.get("content-type"), request.body, request.body_json)
    if found is not None and found[0] not in _SLACK_KINDS and not from_slack:
        found = None  # a JSON "type" alone is too common to call a request Slack's
    if found is None:
        if from_slack:
            return ParsedRequest(None, True, "Slack request with a body slacklab does not recognise")
        return ParsedRequest(None, False, "skipped: not a Slack request")
    return found


def request_row(
    request: CapturedRequest, kind: str, payload: dict[str, Any], signing_secret: str | None = None
) -> dict[str, Any]:
    """The delivery row of a request :func:`recognise` accepted, signature checked."""
    headers = lower_headers(request.headers)
    retry = (headers.get("x-slack-retry-num") or "").strip()
    row = make_row(
        source="http",
        kind=kind,
        payload=payload,
        received_at=request.at,
        retry_attempt=int(retry) if retry.isascii() and retry.isdigit() and len(retry) < 6 else 0,
        retry_reason=headers.get("x-slack-retry-reason"),
        signature=verify(signing_secret, headers, request.body, request.at, exact_body=request.exact_body),
        http_status=request.status,
        response_ms=request.response_ms,
        replayed=True if (headers.get("x-slacklab-replay") or "").strip() == "1" else None,
    )
    if row["event_time"] is not None and not 0 <= row["event_time"] < _LATEST:
        # schema.event_time_seconds lets through times pandas cannot hold (year > 2262),
        # which would break capture.df; an impossible event_time is no event_time.
        row["event_time"] = None
    return row


def parse_request(request: CapturedRequest, signing_secret: str | None = None) -> ParsedRequest:
    """Turn one captured request into a delivery row (source ``http``), or say why not.

    The signature is checked over ``request.body`` (the exact bytes) and
    judged against ``request.at``, the capture time. Retry headers fill
    ``retry_attempt``/``retry_reason``; status and time fill
    ``http_status``/``response_ms``.
    """
    found = recognise(request)
    if isinstance(found, ParsedRequest):
        return found
    return ParsedRequest(request_row(request, *found, signing_secret), True)
