"""HAR 1.2 entries → captured requests and Socket Mode sessions (pure: no I/O).

HAR files come from mitmproxy (``save.har``, ``hardump``; ``.zhar`` is the same
JSON zlib-compressed — :mod:`slacklab.http.logs` inflates it), browsers,
Charles and Fiddler. What this module accepts:

* headers as ``{"name": ..., "value": ...}`` objects (browsers, Charles,
  Fiddler, mitmproxy) *and* as ``[name, value]`` pairs (mitmproxy's reader
  notes Slack's own HAR files use them);
* the body from ``postData.text`` (exact bytes, as UTF-8) or, when only
  ``postData.params`` is there, rebuilt form-encoded — flagged so a failing
  signature reads ``unverifiable`` instead of ``invalid``;
* ``response.status`` and the entry's ``time`` (ms) as the response;
* ``_webSocketMessages`` (mitmproxy and Chrome DevTools): a proxied Socket
  Mode session becomes a :class:`SocketSession` of parsed frames, with each
  envelope's ack time taken from the ``{"envelope_id"}`` the client sent.

Entries are numbered from 1 in messages (``entry 3``). Call
:func:`read_entries` with the ``log.entries`` list; most people call
:func:`slacklab.http.logs.read_http_log` instead.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from slacklab.http.request import CapturedRequest, EntryError, duration, epoch_seconds, header_pairs
from slacklab.protocol import Envelope, Frame, parse_frame

__all__ = ["SocketSession", "read_entries"]


@dataclass(frozen=True, slots=True)
class SocketSession:
    """One proxied Socket Mode WebSocket: its frames as ``(received_at, frame, ack_ms)``."""

    connection: str
    opened: float
    closed: float
    frames: tuple[tuple[float, Frame, float | None], ...]


def _status(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and 100 <= value <= 999 else None


def _body(request: Mapping[str, Any]) -> tuple[bytes, bool]:
    """The request body and whether it is the exact original bytes."""
    post = request.get("postData")
    if post is None:
        return b"", True
    if not isinstance(post, Mapping):
        raise EntryError("postData is not an object")
    text = post.get("text")
    if isinstance(text, str):
        if post.get("encoding") == "base64":  # not in HAR 1.2, but some tools write it
            try:
                return base64.b64decode(text, validate=True), True
            except (binascii.Error, ValueError):
                raise EntryError("postData.text is not valid base64") from None
        return text.encode("utf-8", "surrogatepass"), True
    params = post.get("params")
    if isinstance(params, list):
        try:
            pairs = [(str(p["name"]), str(p.get("value", ""))) for p in params]
        except (TypeError, KeyError, AttributeError):
            raise EntryError("postData.params has an item without a name") from None
        return urlencode(pairs).encode(), False
    return b"", True


def _websocket(messages: list[Any], connection: str, opened: float) -> SocketSession:
    received: dict[str, tuple[float, Envelope]] = {}
    frames: list[tuple[float, Frame, float | None]] = []
    acked: dict[str, float] = {}
    last = opened
    for m in messages:
        if not isinstance(m, Mapping) or m.get("type") not in ("send", "receive"):
            raise EntryError("a _webSocketMessages item has no type send/receive")
        t = epoch_seconds(m.get("time"), "a WebSocket message time")
        last = max(last, t)
        data = m.get("data")
        if not isinstance(data, str):
            raise EntryError("a _webSocketMessages item has no text data")
        text: str | bytes = data
        if m.get("opcode") == 2:  # binary frames are base64 in HAR
            try:
                text = base64.b64decode(data)
            except (binascii.Error, ValueError):
                raise EntryError("a binary WebSocket message is not valid base64") from None
        frame = parse_frame(text)
        if m["type"] == "receive":
            if isinstance(frame, Envelope):
                received.setdefault(frame.envelope_id, (t, frame))
            frames.append((t, frame, None))
        elif isinstance(frame, Envelope) and frame.envelope_id in received:  # an ack we sent
            acked.setdefault(frame.envelope_id, max(0.0, (t - received[frame.envelope_id][0]) * 1000.0))
    with_acks = tuple((t, f, acked.get(f.envelope_id) if isinstance(f, Envelope) else None) for t, f, _ in frames)
    return SocketSession(connection, opened, last, with_acks)


def _entry(entry: Any, number: int) -> CapturedRequest | SocketSession:
    if not isinstance(entry, Mapping):
        raise EntryError("not an object")
    request = entry.get("request")
    if not isinstance(request, Mapping):
        raise EntryError("no request object")
    at = epoch_seconds(entry.get("startedDateTime"), "startedDateTime")
    messages = entry.get("_webSocketMessages")
    if isinstance(messages, list):
        return _websocket(messages, f"ws{number}", at)
    body, exact = _body(request)
    response = entry.get("response")
    status = _status(response.get("status")) if isinstance(response, Mapping) else None
    return CapturedRequest(
        at=at,
        method=str(request.get("method", "")).upper(),
        target=str(request.get("url", "")),
        headers=header_pairs(request.get("headers")),
        body=body,
        status=status,
        response_ms=duration(entry.get("time")) if status is not None else None,
        exact_body=exact,
    )


def read_entries(entries: list[Any]) -> Iterator[tuple[str, CapturedRequest | SocketSession | EntryError]]:
    """Yield ``(where, item)`` for each HAR entry; unusable entries yield their :class:`EntryError`."""
    for number, entry in enumerate(entries, start=1):
        where = f"entry {number}"
        try:
            yield where, _entry(entry, number)
        except EntryError as exc:
            yield where, exc
