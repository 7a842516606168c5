"""ngrok agent exports → captured requests (pure: no I/O).

The ngrok agent's local API (``GET http://127.0.0.1:4040/api/requests/http``)
lists what went through a tunnel as ``{"requests": [...]}``. Each item has
``start`` (RFC 3339), ``duration`` (a Go duration: **nanoseconds**),
``request.raw`` (the raw HTTP request, base64) and ``response.status_code``.
ngrok has no HAR export; save that JSON (``curl ... > ngrok.json``) and load it
with :func:`slacklab.http.logs.read_http_log`.

The raw request is split here: request line, headers, body (chunked bodies
are decoded). ngrok may keep only the start of a long body; such a request is
reported as cut short rather than guessed at. Requests are numbered from 1 in
messages (``request 3``).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator, Mapping
from typing import Any

from slacklab.http.request import CapturedRequest, EntryError, duration, epoch_seconds, header

__all__ = ["read_requests", "split_raw_request"]


def _dechunk(body: bytes) -> bytes:
    out, rest = [], body
    while rest:
        size_line, sep, rest = rest.partition(b"\r\n")
        try:
            size = int(size_line.split(b";")[0].strip() or b"x", 16)
        except ValueError:
            raise EntryError("the chunked body is malformed") from None
        if not sep or size <= 0:
            break
        out.append(rest[:size])
        rest = rest[size + 2 :]
    return b"".join(out)


def split_raw_request(raw: bytes) -> tuple[str, str, tuple[tuple[str, str], ...], bytes]:
    """Method, target, headers and body of a raw HTTP/1.x request.

    Raises:
        EntryError: no request line, or a body shorter than its ``Content-Length``.
    """
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep:
        head, _, body = raw.partition(b"\n\n")
    lines = head.decode("latin-1").splitlines()
    parts = lines[0].split(" ") if lines else []
    if len(parts) < 2 or not parts[0]:
        raise EntryError("request.raw does not start with an HTTP request line")
    headers = []
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if colon:
            headers.append((name.strip(), value.strip()))
    if (header(headers, "transfer-encoding") or "").strip().lower() == "chunked":
        body = _dechunk(body)
    length = (header(headers, "content-length") or "").strip()
    if length.isascii() and length.isdigit():
        if len(body) < int(length):
            raise EntryError(f"body cut short by the capture tool ({len(body)} of {length} bytes)")
        body = body[: int(length)]
    return parts[0].upper(), parts[1], tuple(headers), body


def _request(item: Any) -> CapturedRequest:
    if not isinstance(item, Mapping) or not isinstance(item.get("request"), Mapping):
        raise EntryError("no request object")
    at = epoch_seconds(item.get("start"), "start")
    raw = item["request"].get("raw")
    if not isinstance(raw, str) or not raw:
        raise EntryError("request.raw (the base64 raw request) is missing")
    try:
        decoded = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise EntryError("request.raw is not valid base64") from None
    method, target, headers, body = split_raw_request(decoded)
    response = item.get("response")
    code = response.get("status_code") if isinstance(response, Mapping) else None
    status = code if isinstance(code, int) and not isinstance(code, bool) and 100 <= code <= 999 else None
    nanos = duration(item.get("duration"))  # a Go duration: nanoseconds
    ms = nanos / 1e6 if nanos is not None and status is not None else None
    return CapturedRequest(at, method, target, headers, body, status, ms)


def read_requests(items: list[Any]) -> Iterator[tuple[str, CapturedRequest | EntryError]]:
    """Yield ``(where, item)`` for each captured request; unusable ones yield their :class:`EntryError`."""
    for number, item in enumerate(items, start=1):
        where = f"request {number}"
        try:
            yield where, _request(item)
        except EntryError as exc:
            yield where, exc
