"""Captured HTTP request logs → a :class:`~slacklab.capture.Capture` in the delivery schema.

Call :func:`read_http_log` on a file; it detects the format from the content:

* **HAR 1.2** (``.har``, or zlib-compressed ``.zhar``) from mitmproxy,
  browsers, Charles or Fiddler — see :mod:`slacklab.http.har`. Entries with
  ``_webSocketMessages`` (a Socket Mode session proxied through mitmproxy)
  load as **socket** deliveries, one connection per entry;
* **ngrok** agent exports (``/api/requests/http`` JSON) — see :mod:`slacklab.http.ngrok`;
* **JSON Lines** written by slacklab's own receiver (:class:`HttpLogWriter`,
  format below).

Each request becomes one row through :func:`slacklab.http.request.parse_request`
(the live receiver uses the same function, so a receiver's capture and its
reloaded log hold the same rows). The ``signature`` column holds the verdict
of :func:`slacklab.http.signing.verify` (``unchecked`` without a signing secret).

What is not a delivery is kept and counted, never an error:

* requests that are not Slack's (no Slack body and no ``X-Slack-*`` header)
  are skipped; each is listed in ``capture.problems()`` as ``skipped: not a
  Slack request`` and ``capture.notes`` says how many;
* unusable entries (bad structure, a Slack request with an unreadable body,
  a body cut short) are listed in ``capture.problems()`` and
  ``capture.notes``, and a ``UserWarning`` names them.

A file that cannot be read at all — missing, empty, garbage, truncated JSON,
or not one usable entry — raises :class:`~slacklab.errors.LogFormatError`
naming the file and the line or entry (numbered from 1).

Next: ``capture.df`` for the rows, :func:`slacklab.comparison.lineup.compare` to line
them up against a Socket Mode capture.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import logging
import os
import re
import threading
import warnings
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from slacklab.capture import Capture
from slacklab.errors import LogFormatError
from slacklab.http.har import SocketSession
from slacklab.http.har import read_entries as read_har_entries
from slacklab.http.ngrok import read_requests as read_ngrok_requests
from slacklab.http.request import (
    CapturedRequest,
    EntryError,
    ParsedRequest,
    duration,
    epoch_seconds,
    header_pairs,
    recognise,
    request_row,
)
from slacklab.http.signing import check_secret
from slacklab.journal import embeddable_json, is_journal_record, open_private_fd
from slacklab.protocol import Frame
from slacklab.redact import mask_text
from slacklab.table import paused_gc

__all__ = ["HttpLogWriter", "exact_body", "read_http_log"]

log = logging.getLogger("slacklab.http.logs")

_MAX_INFLATED = 256 * 1024 * 1024  # a .zhar that inflates past this is refused
_ZLIB_HEADERS = (b"\x78\x01", b"\x78\x5e", b"\x78\x9c", b"\x78\xda")

Item = CapturedRequest | SocketSession | EntryError


# --------------------------------------------------- slacklab's own JSON Lines


class HttpLogWriter:
    """Append-only JSON Lines log of raw HTTP requests, as :func:`read_http_log` reads them back.

    One line per request::

        {"k": "http", "t": T, "method": "POST", "path": "/slack/events",
         "headers": [[name, value], ...], "status": 200, "ms": 0.8,
         "json": <the body, embedded verbatim>}       # a one-line JSON object body
         … "body": TEXT}  or  … "body_b64": B64}      # any other body (forms…)

    ``t`` is the capture time (epoch seconds). A JSON body is embedded as it
    arrived, as the last field: one parse of the line gives the request and its
    payload, and the exact bytes (what the signature covers) are the line's text
    between ``"json":`` and its final ``}``. Other bodies are kept as text when
    they are UTF-8, else ``body_b64``. Older logs (``body`` for every request) keep
    loading. The file is created with mode 0600: **it holds raw payloads**
    (verification tokens, signatures), so treat it like a secret. Thread-safe;
    each line is one ``os.write``.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._file: Any = os.fdopen(open_private_fd(self.path), "ab", buffering=0)
        self._lock = threading.Lock()
        self.closed = False

    def write(self, request: CapturedRequest) -> None:
        """Append one request (with its response status and time), with the OS when this returns."""
        ms = request.response_ms
        record: dict[str, Any] = {
            "k": "http",
            "t": request.at,
            "method": request.method,
            "path": request.target,
            "headers": [[k, v] for k, v in request.headers],
            "status": request.status,
            "ms": None if ms is None else round(ms, 3),
        }
        body = request.body
        if embeddable_json(body):
            line = _dumps(record)[:-1] + b',"json":' + body + b"}\n"
        else:
            try:
                record["body"] = body.decode("utf-8")
            except UnicodeDecodeError:
                record["body_b64"] = base64.b64encode(body).decode("ascii")
            line = _dumps(record) + b"\n"
        with self._lock:
            if not self.closed:
                self._file.write(line)

    def close(self) -> None:
        """Close. Safe to call twice."""
        with self._lock:
            if not self.closed:
                self.closed = True
                self._file.close()

    def __repr__(self) -> str:
        return f"<HttpLogWriter {str(self.path)!r}{' closed' if self.closed else ''}>"


def _dumps(record: dict[str, Any]) -> bytes:
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "surrogatepass")


def _jsonl_request(record: Any, line: str) -> CapturedRequest:
    if not isinstance(record, Mapping) or record.get("k") != "http":
        raise EntryError("not a slacklab HTTP log record")
    at = epoch_seconds(record.get("t"), "t")
    body_json = None
    if "json" in record:  # embedded verbatim: the exact bytes are the line's text after the marker
        start = line.find(',"json":')
        if start < 0 or not line.rstrip().endswith("}"):
            raise EntryError("a json body that is not the last field")
        body = line[start + 8 : len(line.rstrip()) - 1].encode("utf-8", "surrogatepass")
        body_json = record["json"]
    elif isinstance(record.get("body"), str):
        body = record["body"].encode("utf-8", "surrogatepass")
    elif isinstance(record.get("body_b64"), str):
        try:
            body = base64.b64decode(record["body_b64"], validate=True)
        except (binascii.Error, ValueError):
            raise EntryError("body_b64 is not valid base64") from None
    else:
        raise EntryError("no body")
    status = record.get("status")
    return CapturedRequest(
        at=at,
        method=str(record.get("method", "POST")).upper(),
        target=str(record.get("path", "")),
        headers=header_pairs(record.get("headers")),
        body=body,
        status=status if isinstance(status, int) and not isinstance(status, bool) and 100 <= status <= 999 else None,
        response_ms=duration(record.get("ms")),
        body_json=body_json,
    )


def exact_body(line: str) -> bytes:
    """The exact body bytes of one receiver log line (what ``X-Slack-Signature`` covers).

    Raises:
        ValueError: the line is not a slacklab HTTP log record.
    """
    try:
        record = json.loads(line)
    except (ValueError, RecursionError):
        record = _with_broken_json(line)
    try:
        return _jsonl_request(record, line).body
    except EntryError as exc:
        raise ValueError(str(exc)) from None


def _with_broken_json(line: str) -> dict[str, Any] | None:
    """The record of a line whose embedded body looked like JSON but is not: the body still counts."""
    start = line.find(',"json":')
    if start < 0:
        return None
    try:
        record = json.loads(line[:start] + "}")
    except (ValueError, RecursionError):
        return None
    if not isinstance(record, dict):
        return None
    record["json"] = None  # exact bytes sliced from the line, parsed (and found wanting) later
    return record


def _loads(line: str) -> Any:
    """``json.loads(line)``, through orjson first (about half the time per line; a log line is parsed once).

    What orjson refuses and json takes (``NaN``, integers beyond 64 bits, lone surrogates) goes to json.
    """
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError:
        return json.loads(line)


def _read_jsonl(text: str) -> Iterator[tuple[str, Item]]:
    lines = text.split("\n")
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"line {number}"
        try:
            cut = number == len(lines)  # no newline after it: the writer died mid-line
            try:
                record = _loads(line)
            except (ValueError, RecursionError):
                record = None if cut else _with_broken_json(line)
                if record is None:
                    raise EntryError("incomplete last line (cut off)" if cut else "not JSON") from None
            yield where, _jsonl_request(record, line)
        except EntryError as exc:
            yield where, exc


# ------------------------------------------------------------------ detection


def _read_text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise LogFormatError(path, None, f"cannot open the log ({exc.strerror or exc})") from exc
    if data[:2] in _ZLIB_HEADERS:
        inflater = zlib.decompressobj()
        try:
            data = inflater.decompress(data, _MAX_INFLATED)
        except zlib.error as exc:
            raise LogFormatError(path, None, f"looks zlib-compressed (.zhar) but does not inflate: {exc}") from None
        if inflater.unconsumed_tail:
            raise LogFormatError(path, None, "inflates to more than 256 MiB; refusing to load it")
        if not inflater.eof:
            raise LogFormatError(path, None, "the compressed (.zhar) data is cut short")
    return data.decode("utf-8-sig", "replace")


_LEADING_SPACE = re.compile(r"\s*")  # \s is str.isspace()'s whitespace, as str.lstrip() strips


_JSON_SPACE = re.compile(r"[ \t\n\r]*")  # what json.loads skips around a document


def _first_line(text: str) -> tuple[Any, bool]:
    """The first line's JSON value (``None`` if it is not JSON), and whether that line is the whole
    document, as ``json.loads(text)`` would read it (a HAR file is usually one line)."""
    start = _LEADING_SPACE.match(text).end()  # type: ignore[union-attr]  # no copy of a big file's text
    end = text.find("\n", start)
    try:
        record = json.loads(text[start:] if end < 0 else text[start:end])  # not orjson: a HAR's text is not
        # ASCII, and orjson would keep a UTF-8 copy of the whole file on the string for ~10% less time
    except (ValueError, RecursionError):
        return None, False
    whole = start == 0 and (end < 0 or _JSON_SPACE.match(text, end).end() == len(text))  # type: ignore[union-attr]
    return record, whole


def _items(path: Path, text: str) -> Iterator[tuple[str, Item]]:
    """``(where, item)`` for every entry or line of the file, whatever its format."""
    if not text or text.isspace():
        raise LogFormatError(path, None, "the file is empty")
    first, whole = _first_line(text)
    if isinstance(first, Mapping) and first.get("k") == "http":
        return _read_jsonl(text)
    if is_journal_record(first):
        raise LogFormatError(path, "line 1", "this is a Socket Mode journal: load it with slacklab.load()")
    start = _LEADING_SPACE.match(text).end()  # type: ignore[union-attr]
    if text[start : start + 1] not in ("{", "["):
        raise LogFormatError(path, None, "not a HAR file, an ngrok export or a slacklab HTTP log")
    try:
        doc = first if whole else json.loads(text)  # parsed once: a HAR file is one line
    except RecursionError:
        raise LogFormatError(path, None, "JSON nested too deeply to read") from None
    except json.JSONDecodeError as exc:
        raise LogFormatError(
            path, f"line {exc.lineno}, column {exc.colno}", f"not valid JSON ({exc.msg}); is the file cut short?"
        ) from None
    if isinstance(doc, Mapping) and "log" in doc:
        har = doc["log"]
        entries = har.get("entries") if isinstance(har, Mapping) else None
        if not isinstance(entries, list):
            raise LogFormatError(path, "log.entries", "a HAR file needs a list at log.entries")
        return read_har_entries(entries)
    if isinstance(doc, Mapping) and isinstance(doc.get("requests"), list):
        return read_ngrok_requests(doc["requests"])
    if isinstance(doc, list) and all(isinstance(i, Mapping) and "request" in i for i in doc):
        return read_ngrok_requests(doc)
    found = ", ".join(sorted(map(str, doc))[:6]) if isinstance(doc, Mapping) else type(doc).__name__
    raise LogFormatError(path, None, mask_text(f"JSON, but not a HAR file or an ngrok export (found: {found})"))


# ------------------------------------------------------------------ assembly


@dataclass
class _Tally:
    """What the items amount to: actions on the capture (applied in time order) and counts."""

    secret: str | None
    actions: list[tuple[float, int, Callable[[Capture], None]]] = field(default_factory=list)
    bad: list[str] = field(default_factory=list)
    undated: list[str] = field(default_factory=list)
    total: int = 0
    skipped: int = 0
    http_rows: int = 0
    socket_sessions: int = 0

    def at(self, t: float, action: Callable[[Capture], None]) -> None:
        self.actions.append((t, len(self.actions), action))

    def problem(self, t: float, what: str, text: str) -> None:
        self.at(t, lambda cap: cap.record_problem(t, None, what, text))

    def add(self, where: str, item: Item) -> None:
        self.total += 1
        if isinstance(item, EntryError):
            problem = mask_text(f"{where}: {item}")  # messages may quote bits of the file
            self.bad.append(problem)
            self.undated.append(problem)
        elif isinstance(item, SocketSession):
            self.socket(item)
        elif item.method != "POST":
            self.skipped += 1
            self.problem(item.at, f"{where}: skipped: not a Slack request", f"{item.method} {item.target}")
        else:
            parsed = recognise(item)
            if not isinstance(parsed, ParsedRequest):  # a delivery: its row is built (and signature
                self.http_rows += 1  # checked) in a batch when the capture is first viewed
                make = functools.partial(request_row, item, parsed[0], parsed[1], self.secret)
                self.at(item.at, functools.partial(_record_later, make=make, t=item.at))
                return
            if parsed.slack:
                self.bad.append(f"{where}: {parsed.problem}")
            else:
                self.skipped += 1
            self.problem(item.at, f"{where}: {parsed.problem}", item.describe())

    def socket(self, session: SocketSession) -> None:
        self.socket_sessions += 1
        conn = session.connection
        self.at(session.opened, lambda cap: cap.record_connection_opened(conn, session.opened))
        for t, frame, ack_ms in session.frames:
            self.at(t, functools.partial(_record_frame, frame=frame, t=t, conn=conn, ack_ms=ack_ms))
        self.at(session.closed, lambda cap: cap.record_connection_closed(conn, session.closed, "end of the HAR entry"))


def _record_later(cap: Capture, *, make: Callable[[], dict[str, Any]], t: float) -> None:
    cap.record_later(make, received_at=t)


def _record_frame(cap: Capture, *, frame: Frame, t: float, conn: str, ack_ms: float | None) -> None:
    cap.record_frame(frame, received_at=t, connection=conn, ack_ms=ack_ms)


def read_http_log(path: str | Path, signing_secret: str | None = None) -> Capture:
    """Load a HAR, ngrok export or slacklab HTTP log as a capture (state ``loaded``).

    Args:
        path: the file (``.har``, ``.zhar``, ngrok ``.json``, slacklab ``.jsonl``).
        signing_secret: your app's signing secret; without it every request's
            ``signature`` is ``unchecked``. It is masked everywhere from now on.

    Raises:
        LogFormatError: the file is missing, empty, not one of these formats,
            or has no usable entry; the message names the file and the place.

    Warns (``UserWarning``), naming them, when only some entries are unusable.
    Next: ``capture.df``, ``capture.events()``, ``capture.problems()``,
    ``slacklab.comparison.lineup.compare(socket_capture, capture)``.
    """
    path = Path(path)
    tally = _Tally(check_secret(signing_secret))
    with paused_gc():  # every parsed request stays alive: collections would only walk them
        for where, item in _items(path, _read_text(path)):
            tally.add(where, item)
    if tally.bad and len(tally.bad) == tally.total:
        where, _, problem = tally.bad[0].partition(": ")
        raise LogFormatError(path, where, f"no usable entry; the first says: {problem}")
    socket_only = tally.socket_sessions > 0 and tally.http_rows == 0
    capture = Capture(source="socket" if socket_only else "http", label=path.name)
    with paused_gc(), capture.building_paused():  # rows are built on the first view, in batches
        for _, _, action in sorted(tally.actions, key=lambda a: (a[0], a[1])):
            action(capture)
    for problem in tally.undated:
        capture.record_problem(float("nan"), None, problem)  # no usable time: shown as NaT
    if tally.skipped:
        capture.note(f"{tally.skipped} request(s) were not Slack's and were skipped (see capture.problems()).")
    if tally.bad:
        n = len(tally.bad)
        shown = "; ".join(tally.bad[:10]) + (" …" if n > 10 else "")
        message = f"{path}: skipped {n} unusable entr{'y' if n == 1 else 'ies'}: {shown}"
        capture.note(message)
        warnings.warn(message, stacklevel=2)
    log.debug("loaded %s: %d rows, %d skipped, %d unusable", path.name, tally.http_rows, tally.skipped, len(tally.bad))
    capture.set_state("loaded", f"loaded from {path.name}")
    return capture
