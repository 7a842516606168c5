"""The journal: an append-only JSON Lines file of raw Socket Mode frames, and :func:`load_journal`.

The listener writes one line per received frame *before* it sends the ack
(one ``os.write``, so the line is with the operating system when the ack
leaves): if the kernel dies, everything that was acknowledged is on disk.
Each line is one JSON object (format 2):

==================================================  ======================================
``{"k":"f","t":T,"c":C,"f":<frame>}``                a frame, embedded verbatim: the exact
                                                     bytes Slack sent are between ``"f":``
                                                     and the line's final ``}``
``{"k":"f","t":T,"c":C,"s":"<text>"}``               a frame that is not one line of JSON
                                                     (kept as a string), or ``"b":"<base64>"``
                                                     when it is not UTF-8
``{"k":"a","t":T,"c":C,"e":ENV,"ms":M}``             envelope ENV acked M ms after receipt
``{"k":"a",…,"ms":M,"p":"<json>"}``                  …with a response payload in the ack (masked)
``{"k":"open","t":T,"c":C}``                         connection C opened
``{"k":"close","t":T,"c":C,"why":S}``                connection C closed
``{"k":"note","t":T,"text":S}``                      a note or state change
==================================================  ======================================

``T`` is the receive time in epoch seconds (UTC). Reading a frame back costs one
parse (the frame is JSON inside JSON, not an escaped string in it); the loader
does not even parse it: it slices the frame's bytes out and the capture builds
rows from them in batches. Ack records are small and ride along with the next
write. Format-1 journals (``{"k":"frame",…,"raw":"<escaped text>"}`` and
``{"k":"ack",…,"env":…}``) keep loading.

The file is created with mode 0600: **it holds raw payloads**, including Slack's
deprecated verification ``token`` field; treat it like a secret.
:func:`load_journal` rebuilds a :class:`~slacklab.capture.Capture` from a journal
through the same code path the live listener uses.
"""

from __future__ import annotations

import base64
import binascii
import errno
import json
import os
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from slacklab.capture import Capture
from slacklab.errors import LogFormatError
from slacklab.table import paused_gc

__all__ = [
    "JOURNAL_KINDS",
    "JournalWriter",
    "embeddable_json",
    "frame_line",
    "is_journal_record",
    "load_journal",
    "open_private_fd",
    "read_journal",
]

JOURNAL_KINDS = frozenset({"f", "a", "frame", "ack", "open", "close", "note"})
"""The ``k`` values of journal lines."""


def open_private_fd(path: Path) -> int:
    """Open (create) a raw-data log for appending, mode 0600, starting on a fresh line; return the fd."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
    os.fchmod(fd, 0o600)
    size = os.fstat(fd).st_size
    if size and os.pread(fd, 1, size - 1) != b"\n":
        os.write(fd, b"\n")
    return fd


def open_private_append(path: Path, buffering: int = -1) -> IO[str]:
    """Open a raw-data log for appending, readable by its owner only (mode 0600).

    Parent folders are created. If a crash left the file mid-line, the next
    record starts on a new line instead of being glued to the fragment (and
    lost with it). Used by the journal and the HTTP receiver's log.
    """
    return os.fdopen(open_private_fd(path), "a", encoding="utf-8", buffering=buffering)


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=True, separators=(",", ":")).encode("ascii")


def embeddable_json(body: bytes) -> bool:
    """Cheap check that ``body`` can stand as one JSON value on one line: an object, no line breaks, UTF-8.

    The listener has already parsed its header; a frame that passes this but is still
    broken JSON is recovered all the same (the reader slices, it does not parse).
    """
    if not (body.startswith(b"{") and body.endswith(b"}")) or b"\n" in body or b"\r" in body:
        return False
    if body.isascii():  # most frames: no need to decode them to know
        return True
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


_json_names: dict[str, bytes] = {}


def _json_name(text: str) -> bytes:
    """``text`` as a JSON string (connection names and envelope ids): plain ASCII ones without ``json.dumps``."""
    known = _json_names.get(text)
    if known is not None:
        return known
    if text.isascii() and text.isprintable() and '"' not in text and "\\" not in text:
        return b'"' + text.encode("ascii") + b'"'
    return _json_bytes(text)


def _frame_parts(t: float, connection: str, raw: bytes | str, is_json: bool | None) -> list[bytes]:
    """The pieces of a frame's journal line (joined once by the caller)."""
    conn = _json_names.get(connection)
    if conn is None:
        conn = _json_name(connection)
        if len(_json_names) < 1024:  # connection names: a handful per run
            _json_names[connection] = conn
    head = b'{"k":"f","t":' + repr(float(t)).encode() + b',"c":' + conn
    if isinstance(raw, str):
        try:
            body = raw.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate: keep it as an escaped string
            return [head, b',"s":', _json_bytes(raw), b"}\n"]
    else:
        body = raw if type(raw) is bytes else bytes(raw)
    if (is_json is None and embeddable_json(body)) or (is_json and b"\n" not in body and b"\r" not in body):
        return [head, b',"f":', body, b"}\n"]
    try:
        return [head, b',"s":', _json_bytes(body.decode("utf-8")), b"}\n"]
    except UnicodeDecodeError:
        return [head, b',"b":"', base64.b64encode(body), b'"}\n']


def frame_line(t: float, connection: str, raw: bytes | str, *, is_json: bool | None = None) -> bytes:
    """The journal line for a frame: the frame embedded verbatim when it is one line of JSON.

    ``is_json`` tells what the caller already knows (``True``: the frame parsed as a JSON
    object); ``None`` checks cheaply.
    """
    return b"".join(_frame_parts(t, connection, raw, is_json))


class JournalWriter:
    """Append-only writer, one ``os.write`` per frame. Thread-safe.

    ``frame()`` writes at once (with any ack records waiting); ``ack()`` records wait
    for the next write, :meth:`flush` or :meth:`close`; the other records are written
    at once.

    Args:
        path: the file; parent folders are created; an existing journal is appended to.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._file: Any = os.fdopen(open_private_fd(self.path), "ab", buffering=0)
        self._lock = threading.Lock()
        self._waiting: list[bytes] = []
        self.closed = False
        self.error: OSError | None = None
        """The write error (a full disk…) after which nothing more is written."""

    def _write(self, data: bytes | list[bytes]) -> bool:
        with self._lock:
            if self.closed or self.error is not None:
                return False
            if self._waiting:  # one join: the frame's bytes are copied once on their way out
                data = b"".join([*self._waiting, *([data] if isinstance(data, bytes) else data)])
            elif not isinstance(data, bytes):
                data = b"".join(data)
            try:
                view = memoryview(data)
                while view:  # a regular file takes it whole; a short write is finished, not lost
                    written = self._file.write(view)
                    if not written:
                        raise OSError(errno.EIO, "the journal file took no bytes")
                    view = view[written:]
            except OSError as exc:
                self.error = exc
                return False
            self._waiting.clear()
        return True

    def frame(self, t: float, connection: str, raw: bytes | str, *, is_json: bool | None = None) -> bool:
        """Journal a received frame, exactly as received, with the OS (call before acking).

        Returns False when it could not be written (see :attr:`error`): then do not ack it.
        """
        return self._write(_frame_parts(t, connection, raw, is_json))

    def frames(self, t: float, connection: str, raws: list[bytes]) -> bool:
        """Journal frames received together in one write (see :meth:`frame`); False if it failed."""
        if len(raws) == 1:
            return self._write(_frame_parts(t, connection, raws[0], None))
        return self._write([part for raw in raws for part in _frame_parts(t, connection, raw, None)])

    def ack(self, t: float, connection: str, envelope_id: str, ms: float, response: str | None = None) -> None:
        """Journal that an ack was sent ``ms`` milliseconds after receipt (written with the next record).

        ``response``: the (masked) JSON text of a response payload the ack carried.
        """
        extra = b',"p":' + _json_bytes(response) if response is not None else b""
        line = b"".join(
            (
                b'{"k":"a","t":', repr(float(t)).encode(), b',"c":', _json_name(connection),
                b',"e":', _json_name(envelope_id), b',"ms":', repr(round(float(ms), 3)).encode(), extra, b"}\n",
            )
        )  # fmt: skip
        with self._lock:
            self._waiting.append(line)

    def _record(self, record: dict[str, Any]) -> None:
        self._write(_json_bytes(record) + b"\n")

    def opened(self, t: float, connection: str) -> None:
        """Journal that a connection opened."""
        self._record({"k": "open", "t": t, "c": connection})

    def closed_connection(self, t: float, connection: str, why: str) -> None:
        """Journal that a connection closed, and why."""
        self._record({"k": "close", "t": t, "c": connection, "why": why})

    def note(self, t: float, text: str) -> None:
        """Journal a note (state change, warning)."""
        self._record({"k": "note", "t": t, "text": text})

    def flush(self) -> None:
        """Write the ack records still waiting."""
        self._write(b"")

    def close(self) -> None:
        """Write what waits, fsync and close. Safe to call twice."""
        self.flush()
        with self._lock:
            if self.closed:
                return
            self.closed = True
            try:
                os.fsync(self._file.fileno())
            except OSError:
                pass
            try:
                self._file.close()
            except OSError:  # lines it could not write are lost either way; error says why
                pass

    def __repr__(self) -> str:
        return f"<JournalWriter {str(self.path)!r}{' closed' if self.closed else ''}>"


_FRAME = b'{"k":"f","t":'
_TAGS = {b',"f":': "f", b',"s":': "s", b',"b":': "b"}


def _is_time(value: Any) -> bool:
    """Epoch seconds a table can hold: finite, from 1970 to before pandas' end (2262)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value < 9e9


def _ms(value: Any) -> float | None:
    """An ack time in milliseconds, or ``None`` when the record holds anything else."""
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value < 1e12:
        return float(value)
    return None


def _frame_record(line: bytes) -> tuple[float, str, bytes | str] | None:
    """``(t, connection, frame)`` of a format-2 frame line (ending in ``}\\n``), sliced, not parsed."""
    try:
        i = line.index(b',"c":"', 13)
        j = line.index(b'"', i + 6)
        t = float(line[13:i])
        conn = line[i + 6 : j].decode("utf-8")
        tag = _TAGS[line[j + 1 : j + 6]]
    except (ValueError, KeyError, UnicodeDecodeError):
        return None
    body = line[j + 6 : -2]
    if b"\\" in line[i:j] or not _is_time(t) or line[-2:] != b"}\n":
        return None  # an escaped connection name (never written by slacklab) or not a whole line
    if tag == "f":
        return t, conn, body
    try:
        text = json.loads(body)
        if not isinstance(text, str):
            return None
        return t, conn, (base64.b64decode(text, validate=True) if tag == "b" else text)
    except (ValueError, binascii.Error):
        return None


def _frame_value(rec: dict[str, Any]) -> bytes | str:
    """The frame of a parsed frame record: format 1 ``raw``, format 2 ``s``/``b``/``f``."""
    for key in ("raw", "s"):
        if isinstance(rec.get(key), str):
            return str(rec[key])
    if isinstance(rec.get("b"), str):
        try:
            return base64.b64decode(rec["b"], validate=True)
        except (ValueError, binascii.Error):
            return ""
    return json.dumps(rec["f"], ensure_ascii=False) if "f" in rec else ""


def _records(path: Path) -> Iterator[tuple[str, float, str, Any]]:
    """``(kind, t, connection, data)`` for every usable line: kind ``frame`` (data: the frame's
    bytes or text), ``ack`` (data: ``(envelope_id, ms, response)``), ``open``, ``close`` (data: why), ``note``."""
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise LogFormatError(path, None, f"cannot open the journal ({exc.strerror or exc})") from exc
    bad: list[int] = []
    seen_valid = False
    with handle:
        for number, line in enumerate(handle, start=1):
            if line.startswith(_FRAME):
                frame = _frame_record(line)
                if frame is not None:
                    seen_valid = True
                    yield "frame", frame[0], frame[1], frame[2]
                    continue
            elif line.isspace():
                continue
            try:
                rec = json.loads(line)
                ok = isinstance(rec, dict) and rec.get("k") in JOURNAL_KINDS and _is_time(rec.get("t"))
            except (ValueError, RecursionError):
                ok = False
            if ok:
                kind = rec["k"]
                conn = str(rec.get("c") or "")
                data: Any
                if kind in ("f", "frame"):  # format 1, or a format-2 line the slicer could not take
                    kind, data = "frame", _frame_value(rec)
                elif kind in ("a", "ack"):
                    response = rec.get("p") if isinstance(rec.get("p"), str) else None
                    kind, data = "ack", (str(rec.get("e", rec.get("env"))), _ms(rec.get("ms")), response)
                else:
                    data = str(rec.get("why" if kind == "close" else "text", ""))
                seen_valid = True
                yield kind, float(rec["t"]), conn, data
            elif not line.endswith(b"\n"):
                warnings.warn(
                    f"{path}: the last line (line {number}) is incomplete, probably cut off "
                    "when the capture was killed; it was skipped.",
                    stacklevel=3,
                )
            elif not seen_valid and number == 1:
                raise LogFormatError(path, "line 1", "not a slacklab journal (expected a JSON record with 'k' and 't')")
            else:
                bad.append(number)
    if bad:
        shown = ", ".join(map(str, bad[:10])) + (" …" if len(bad) > 10 else "")
        warnings.warn(f"{path}: skipped {len(bad)} unreadable line(s): {shown}", stacklevel=3)


def read_journal(path: str | Path) -> Iterator[dict[str, Any]]:
    """Yield the records of a journal file (format 1 or 2) as format-1 dicts.

    ``{"k": "frame", "t", "c", "raw"}`` (``raw``: the frame's exact bytes or text),
    ``{"k": "ack", "t", "c", "env", "ms"}``, ``{"k": "open"|"close"|"note", …}``.
    A torn last line (the kernel died mid-write) is skipped with a warning.
    Broken lines elsewhere are skipped with a warning naming them. A file
    whose first record is not a journal record raises :class:`LogFormatError`.
    """
    for kind, t, conn, data in _records(Path(path)):
        if kind == "frame":
            yield {"k": kind, "t": t, "c": conn, "raw": data}
        elif kind == "ack":
            yield {"k": kind, "t": t, "c": conn, "env": data[0], "ms": data[1], "response": data[2]}
        elif kind == "note":
            yield {"k": kind, "t": t, "text": data}
        else:
            yield {"k": kind, "t": t, "c": conn, **({"why": data} if kind == "close" else {})}


def is_journal_record(record: Any) -> bool:
    """True if ``record`` (a parsed line, or a line's bytes or text) is a journal line."""
    if isinstance(record, bytes) and record.startswith(_FRAME):
        return _frame_record(record if record.endswith(b"\n") else record + b"\n") is not None
    if isinstance(record, (bytes, str)):
        try:
            record = json.loads(record)
        except (ValueError, RecursionError):
            return False
    return isinstance(record, dict) and record.get("k") in JOURNAL_KINDS


def load_journal(path: str | Path) -> Capture:
    """Rebuild a capture from a journal written by :func:`slacklab.listen` (format 1 or 2).

    The result has the same deliveries, events, connections and problems
    views as the live capture had. Envelopes journaled but never acked (the
    process died in between) keep an empty ``ack_ms``. Reading only slices each
    frame out of its line; the rows are built (in batches) when a view is first asked for.
    """
    path = Path(path)
    capture = Capture(source="socket", label=path.name)
    capture.journal_path = path
    with paused_gc():  # every queued frame stays alive: collections would only walk them
        _replay(path, capture)
    capture.set_state("loaded", f"loaded from {path.name}")
    return capture


def _replay(path: Path, capture: Capture) -> None:
    """Feed every record of the journal at ``path`` to ``capture``, as the live listener did."""
    acks: dict[tuple[str, str], float | tuple[float, str]] = {}
    # A journal appended to by several runs repeats connection ids (each run starts at
    # c1): an "open" for an id seen before starts a new connection, named c1#2, c1#3…
    alias: dict[str, str] = {}
    opened: dict[str, int] = {}
    add = capture.add_journaled
    with capture.building_paused():
        for kind, t, raw_conn, data in _records(path):
            conn = alias.get(raw_conn, raw_conn)
            if kind == "frame":
                add(data, received_at=t, connection=conn, acks=acks)
            elif kind == "ack":
                if data[1] is not None:
                    acks[(conn, data[0])] = data[1] if data[2] is None else (data[1], data[2])
            elif kind == "open":
                opened[raw_conn] = opened.get(raw_conn, 0) + 1
                if opened[raw_conn] > 1:
                    alias[raw_conn] = conn = f"{raw_conn}#{opened[raw_conn]}"
                capture.record_connection_opened(conn, t)
            elif kind == "close":
                capture.record_connection_closed(conn, t, data)
            elif kind == "note":
                capture.note(data)
