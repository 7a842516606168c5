"""The journal: an append-only JSON Lines file of raw Socket Mode frames, and :func:`load`.

The listener writes one line per received frame *before* it sends the ack
(flushed to the operating system), so if the kernel dies, everything that
was acknowledged is on disk. Other lines record the connection lifecycle and
the ack time. Each line is a JSON object:

=============================================  ==================================
``{"k": "frame", "t": T, "c": C, "raw": S}``   the exact text Slack sent
``{"k": "ack", "t": T, "c": C, "env": E, "ms": M}``  ack sent M ms after receipt
``{"k": "open", "t": T, "c": C}``              connection C opened
``{"k": "close", "t": T, "c": C, "why": S}``   connection C closed
``{"k": "note", "t": T, "text": S}``           a note or state change
=============================================  ==================================

``T`` is the receive time in epoch seconds (UTC). The file is created with
mode 0600: **it holds raw payloads**, including Slack's deprecated
verification ``token`` field; treat it like a secret.

:func:`load_journal` rebuilds a :class:`~slacklab.capture.Capture` from a journal
through the same code path the live listener uses.
"""

from __future__ import annotations

import json
import os
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from slacklab.capture import Capture
from slacklab.errors import LogFormatError
from slacklab.protocol import Envelope, parse_frame
from slacklab.table import paused_gc

__all__ = ["JOURNAL_KINDS", "JournalWriter", "is_journal_record", "load_journal", "read_journal"]

JOURNAL_KINDS = frozenset({"frame", "ack", "open", "close", "note"})
"""The ``k`` values of journal lines."""


def open_private_append(path: Path, buffering: int = -1) -> IO[str]:
    """Open a raw-data log for appending, readable by its owner only (mode 0600).

    Parent folders are created. If a crash left the file mid-line, the next
    record starts on a new line instead of being glued to the fragment (and
    lost with it). Used by the journal and the HTTP receiver's log.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
    os.fchmod(fd, 0o600)
    size = os.fstat(fd).st_size
    if size and os.pread(fd, 1, size - 1) != b"\n":
        os.write(fd, b"\n")
    return os.fdopen(fd, "a", encoding="utf-8", buffering=buffering)


class JournalWriter:
    """Append-only writer. Thread-safe; ``frame()`` flushes, the other records ride along.

    Args:
        path: the file; parent folders are created; an existing journal is appended to.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._file: IO[str] = open_private_append(self.path, buffering=1 << 16)
        self._lock = threading.Lock()
        self.closed = False
        self.error: OSError | None = None
        """The write error (a full disk…) after which nothing more is written."""

    def _write(self, record: dict[str, Any], flush: bool) -> bool:
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"
        with self._lock:
            if self.closed or self.error is not None:
                return False
            try:
                self._file.write(line)
                if flush:
                    self._file.flush()
            except OSError as exc:
                self.error = exc
                return False
        return True

    def frame(self, t: float, connection: str, raw: str) -> bool:
        """Journal a received frame and flush it to the OS (call before acking).

        Returns False when it could not be written (see :attr:`error`): then do not ack it.
        """
        return self._write({"k": "frame", "t": t, "c": connection, "raw": raw}, flush=True)

    def ack(self, t: float, connection: str, envelope_id: str, ms: float) -> None:
        """Journal that an ack was sent ``ms`` milliseconds after receipt."""
        self._write({"k": "ack", "t": t, "c": connection, "env": envelope_id, "ms": round(ms, 3)}, flush=False)

    def opened(self, t: float, connection: str) -> None:
        """Journal that a connection opened."""
        self._write({"k": "open", "t": t, "c": connection}, flush=True)

    def closed_connection(self, t: float, connection: str, why: str) -> None:
        """Journal that a connection closed, and why."""
        self._write({"k": "close", "t": t, "c": connection, "why": why}, flush=True)

    def note(self, t: float, text: str) -> None:
        """Journal a note (state change, warning)."""
        self._write({"k": "note", "t": t, "text": text}, flush=True)

    def flush(self) -> None:
        """Flush buffered lines to the OS."""
        with self._lock:
            if not self.closed and self.error is None:
                try:
                    self._file.flush()
                except OSError as exc:
                    self.error = exc

    def close(self) -> None:
        """Flush, fsync and close. Safe to call twice."""
        with self._lock:
            if self.closed:
                return
            self.closed = True
            try:
                self._file.flush()
                os.fsync(self._file.fileno())
            except OSError:
                pass
            try:
                self._file.close()
            except OSError:  # lines it could not write are lost either way; error says why
                pass

    def __repr__(self) -> str:
        return f"<JournalWriter {str(self.path)!r}{' closed' if self.closed else ''}>"


_KINDS = {"frame", "ack", "open", "close", "note"}


def _is_time(value: Any) -> bool:
    """Epoch seconds a table can hold: finite, from 1970 to before pandas' end (2262)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value < 9e9


def _ms(value: Any) -> float | None:
    """An ack time in milliseconds, or ``None`` when the record holds anything else."""
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value < 1e12:
        return float(value)
    return None


def read_journal(path: str | Path) -> Iterator[dict[str, Any]]:
    """Yield the records of a journal file.

    A torn last line (the kernel died mid-write) is skipped with a warning.
    Broken lines elsewhere are skipped with a warning naming them. A file
    whose first record is not a journal record raises :class:`LogFormatError`.
    """
    path = Path(path)
    try:
        handle = path.open("r", encoding="utf-8", errors="replace", newline="\n")
    except OSError as exc:
        raise LogFormatError(path, None, f"cannot open the journal ({exc.strerror or exc})") from exc
    bad: list[int] = []
    seen_valid = False
    with handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                ok = isinstance(record, dict) and record.get("k") in _KINDS and _is_time(record.get("t"))
            except ValueError:
                ok = False
            if ok:
                seen_valid = True
                yield record
            elif not line.endswith("\n"):
                warnings.warn(
                    f"{path}: the last line (line {number}) is incomplete, probably cut off "
                    "when the capture was killed; it was skipped.",
                    stacklevel=2,
                )
            elif not seen_valid and number == 1:
                raise LogFormatError(path, "line 1", "not a slacklab journal (expected a JSON record with 'k' and 't')")
            else:
                bad.append(number)
    if bad:
        shown = ", ".join(map(str, bad[:10])) + (" …" if len(bad) > 10 else "")
        warnings.warn(f"{path}: skipped {len(bad)} unreadable line(s): {shown}", stacklevel=2)


def is_journal_record(record: Any) -> bool:
    """True if ``record`` (a parsed line, or a line's bytes or text) is a journal line."""
    if isinstance(record, (bytes, str)):
        try:
            record = json.loads(record)
        except (ValueError, RecursionError):
            return False
    return isinstance(record, dict) and record.get("k") in JOURNAL_KINDS


def load_journal(path: str | Path) -> Capture:
    """Rebuild a capture from a journal written by :func:`slacklab.listen`.

    The result has the same deliveries, events, connections and problems
    views as the live capture had. Envelopes journaled but never acked (the
    process died in between) keep an empty ``ack_ms``.
    """
    path = Path(path)
    capture = Capture(source="socket", label=path.name)
    capture.journal_path = path
    with paused_gc():  # every parsed payload stays alive: collections would only walk them
        _replay(path, capture)
    capture.set_state("loaded", f"loaded from {path.name}")
    return capture


def _replay(path: Path, capture: Capture) -> None:
    """Feed every record of the journal at ``path`` to ``capture``, as the live listener did."""
    pending: dict[tuple[str, str], tuple[Envelope, float, str]] = {}
    # A journal appended to by several runs repeats connection ids (each run starts at
    # c1): an "open" for an id seen before starts a new connection, named c1#2, c1#3…
    alias: dict[str, str] = {}
    opened: dict[str, int] = {}
    for rec in read_journal(path):
        kind = rec["k"]
        t = float(rec["t"])
        raw_conn = str(rec.get("c") or "")
        if kind == "open":
            opened[raw_conn] = opened.get(raw_conn, 0) + 1
            if opened[raw_conn] > 1:
                alias[raw_conn] = f"{raw_conn}#{opened[raw_conn]}"
        conn = alias.get(raw_conn, raw_conn)
        if kind == "frame":
            frame = parse_frame(str(rec.get("raw", "")))
            if isinstance(frame, Envelope):
                pending[(conn, frame.envelope_id)] = (frame, t, conn)
            else:
                capture.record_frame(frame, received_at=t, connection=conn)
        elif kind == "ack":
            item = pending.pop((conn, str(rec.get("env"))), None)
            if item is not None:
                frame, received, fconn = item
                capture.record_frame(frame, received_at=received, connection=fconn, ack_ms=_ms(rec.get("ms")))
        elif kind == "open":
            capture.record_connection_opened(conn, t)
        elif kind == "close":
            capture.record_connection_closed(conn, t, str(rec.get("why", "")))
        elif kind == "note":
            capture.note(str(rec.get("text", "")))
    for frame, received, fconn in pending.values():
        capture.record_frame(frame, received_at=received, connection=fconn)
