"""The queue between what arrives and the store: raw frames in, typed row batches out.

A :class:`RowLog` is the delivery half of a :class:`~slacklab.capture.Capture`.
Writers (the listener's hand-off, the HTTP receiver, the journal loader) only
**queue** an item under the capture's lock: a raw frame (``bytes``/``str``, not
parsed), a parsed frame, or a ready row. Rows are **built in batches** — parse,
extract fields, mask, serialise — when a view is asked for, or by a short-lived
background thread once :attr:`RowLog.AUTO_BUILD` items wait; never on the ack path.

Integrity by construction: a batch is copied out of the queue, converted, and
committed in one assignment (:attr:`slacklab.store.ChunkList.state`) that also
records the last item it covers; the queue is trimmed afterwards from that
record. An exception or a KeyboardInterrupt anywhere leaves every item either
queued or stored — never both, never neither.

With an archive, full segments of rows go to Parquet as they are built
(:class:`slacklab.archive.ParquetArchive`) and, with ``keep_rows``, memory holds
only the newest rows.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import pandas as pd
import pyarrow as pa

from slacklab.archive import ParquetArchive
from slacklab.protocol import Disconnect, Envelope, Frame, Hello, parse_frame
from slacklab.schema import make_row
from slacklab.store import ChunkList, chunk_from_rows, chunks_from_table
from slacklab.table import paused_gc

__all__ = ["ConnectionClosed", "Connections", "RowLog", "convert", "looks_like_envelope"]

# (seq, deliveries queued so far, what, received_at, connection, ack_ms, acks)
Item = tuple[int, int, Any, float, "str | None", "float | None", Any]
Acks = dict[tuple[str, str], "float | tuple[float, str]"]
# A frame counts as a delivery (in len()) until its row is built when it names an
# envelope: hello and disconnect frames never do.
_ENVELOPE_MARK: dict[type, Any] = {bytes: b'"envelope_id"', bytearray: b'"envelope_id"', str: '"envelope_id"'}


@dataclass(frozen=True, slots=True)
class ConnectionClosed:
    """A queued "connection closed" (applied in order with the frames before it, such as a disconnect)."""

    reason: str


class Connections:
    """A capture's Socket Mode connections: opened, hello info, closed and why, deliveries.

    Not thread-safe: the capture holds its lock around every call.
    """

    COLUMNS = (
        "connection",
        "opened_at",
        "hello_at",
        "closed_at",
        "close_reason",
        "num_connections",
        "app_id",
        "host",
        "approximate_connection_time",
        "deliveries",
    )

    def __init__(self) -> None:
        self._rows: dict[str, dict[str, Any]] = {}

    def __len__(self) -> int:
        return len(self._rows)

    def get(self, connection: str, at: float) -> dict[str, Any]:
        """The row of ``connection``, opened at ``at`` if it is new."""
        conn = self._rows.get(connection)
        if conn is None:
            conn = dict.fromkeys(self.COLUMNS)
            conn.update(connection=connection, opened_at=at, deliveries=0)
            self._rows[connection] = conn
        return conn

    def count(self, connection: str | None) -> None:
        """One more delivery on ``connection`` (if it is known)."""
        conn = self._rows.get(connection or "")
        if conn is not None:
            conn["deliveries"] += 1

    def apply(self, frame: Frame | ConnectionClosed, at: float, connection: str) -> None:
        """What a hello, a disconnect or a close says about ``connection``."""
        conn = self.get(connection, at)
        if isinstance(frame, Hello):
            conn.update(
                hello_at=at,
                num_connections=frame.num_connections,
                app_id=frame.app_id,
                host=frame.host,
                approximate_connection_time=frame.approximate_connection_time,
            )
        elif isinstance(frame, Disconnect):
            previous = conn.get("close_reason") or ""
            conn["close_reason"] = (
                f"{previous}, {frame.reason}" if previous.startswith("disconnect: ") else f"disconnect: {frame.reason}"
            )
        elif isinstance(frame, ConnectionClosed):
            conn["closed_at"] = at
            reason = frame.reason
            if reason and not conn.get("close_reason"):
                conn["close_reason"] = reason
            elif reason and reason not in conn["close_reason"]:
                conn["close_reason"] = f"{conn['close_reason']}; {reason}"

    def open_count(self) -> int:
        """Connections not closed."""
        return sum(1 for c in self._rows.values() if c["closed_at"] is None)

    def frame(self) -> pd.DataFrame:
        """One row per connection, times as UTC timestamps, counts as ``Int64``."""
        df = pd.DataFrame([dict(c) for c in self._rows.values()], columns=list(self.COLUMNS))
        for col in ("opened_at", "hello_at", "closed_at"):
            # Microseconds, as received_at: a float of epoch seconds has no nanoseconds to show.
            seconds = pd.to_datetime(df[col].astype("float64"), unit="s", utc=True)
            df[col] = seconds.dt.round("us").astype("datetime64[us, UTC]")
        for col in ("num_connections", "approximate_connection_time", "deliveries"):
            df[col] = df[col].astype("Int64")
        return df


class _Wire(msgspec.Struct):
    """An envelope frame whose fields all have the JSON types Slack sends.

    Decoding into this (C, one pass, the payload straight into dicts) gives the same
    envelope as :func:`slacklab.protocol.parse_frame` (~4x slower: ``json.loads`` then
    checks in Python); a frame with any odd field fails to decode and goes through
    ``parse_frame``, which decides what it is.
    """

    envelope_id: str = ""
    type: str = ""
    payload: dict[str, Any] = msgspec.field(default_factory=dict)
    accepts_response_payload: bool = False
    retry_attempt: int = 0
    retry_reason: str = ""
    slacklab_replay: bool = False


_wire_decoder = msgspec.json.Decoder(_Wire)
_INT_LIMIT = 2**31  # as parse_frame: a larger retry_attempt is garbage, and counts as 0


def looks_like_envelope(raw: bytes | bytearray | str) -> bool:
    """Whether a raw frame names an envelope (a delivery), without parsing it."""
    return _ENVELOPE_MARK[type(raw)] in raw


def convert(
    what: Any,
    t: float,
    conn: str | None,
    ack_ms: float | None,
    acks: Acks | None,
    rows: list[dict[str, Any]],
    effects: list[tuple[Frame | ConnectionClosed, float, str]],
) -> None:
    """One queued item → a row (appended to ``rows``) or a non-envelope frame to apply (``effects``)."""
    if isinstance(what, dict):
        rows.append(what)
        return
    if callable(what):  # a row made on demand (Capture.record_later)
        rows.append(what())
        return
    if isinstance(what, ConnectionClosed):
        effects.append((what, t, conn or ""))
        return
    wire = None
    if what.__class__ is bytes or what.__class__ is str:
        try:
            wire = _wire_decoder.decode(what)
        except (ValueError, RecursionError):  # msgspec.DecodeError/ValidationError are ValueErrors
            wire = None
    if wire is not None and wire.envelope_id:
        retry = wire.retry_attempt
        envelope_id, kind, payload = wire.envelope_id, wire.type or "unknown", wire.payload
        retry, reason = (retry if 0 <= retry < _INT_LIMIT else 0), wire.retry_reason
        accepts, replayed = wire.accepts_response_payload, wire.slacklab_replay
    else:
        frame = what if isinstance(what, Frame) else parse_frame(what)
        if not isinstance(frame, Envelope):
            effects.append((frame, t, conn or ""))
            return
        envelope_id, kind, payload = frame.envelope_id, frame.type, frame.payload
        retry, reason = frame.retry_attempt, frame.retry_reason
        accepts, replayed = frame.accepts_response_payload, frame.replayed
    response = None
    if acks is not None:  # ack times by envelope id; (ms, masked response payload) for an answer in the ack
        found = acks.get((conn or "", envelope_id))
        if isinstance(found, tuple):
            found, response = found
        if ack_ms is None:
            ack_ms = found
    rows.append(
        make_row(
            source="socket",
            kind=kind,
            payload=payload,
            received_at=t,
            connection=conn,
            envelope_id=envelope_id,
            retry_attempt=retry,
            retry_reason=reason,
            ack_ms=ack_ms,
            accepts_response_payload=accepts,
            replayed=True if replayed else None,
            response_payload=response,
        )
    )


class RowLog:
    """Queued items and built rows of one capture.

    Args:
        lock: the capture's lock (writers and the commit step hold it briefly).
        on_rows: called under ``lock`` with each committed batch of rows (counters).
        on_frame: called (without the lock) with each non-envelope frame built.
        archive: folder for Parquet segments, or ``None``.
        keep_rows: rows to hold in memory (the rest are in the archive), or ``None``.
    """

    BATCH = 4096
    """Items built per step when a view asks."""
    BACKGROUND_BATCH = 512
    """Items built per step in the background: Arrow's converters hold the GIL for a whole
    batch, and the listener thread must get it back within a couple of milliseconds."""
    AUTO_BUILD = 512
    """Queued items that start building rows in the background."""
    BUSY_RATE = 2000.0
    """Items per second above which the background builder waits for the arrivals to slow down:
    a listener taking a burst needs the GIL for itself (each journal write and ack send hands
    it over, and a builder holding it costs the listener a switch interval to get it back)."""
    BUSY_CAP = 100_000
    """Queued items after which the background builder builds even during a burst (memory)."""
    BUSY_POLL = 0.02
    """Seconds between the background builder's looks at the arrival rate."""
    SEGMENT_ROWS = 100_000
    """Rows per archive segment (fewer when ``keep_rows`` is smaller)."""

    def __init__(
        self,
        lock: threading.Condition,
        on_rows: Callable[[list[dict[str, Any]]], None],
        on_frame: Callable[[Frame | ConnectionClosed, float, str], None],
        archive: str | Path | None = None,
        keep_rows: int | None = None,
    ) -> None:
        if keep_rows is not None and (keep_rows < 1 or archive is None):
            raise ValueError(
                "keep_rows needs a positive number and an archive folder (archive='dir/'), where the older rows go"
            )
        self._lock = lock
        self._on_rows = on_rows
        self._on_frame = on_frame
        self.archive = ParquetArchive(archive) if archive is not None else None
        self.keep_rows = keep_rows
        self.rows = ChunkList()
        self._pending: list[Item] = []
        self._seq = 0
        self._queued = 0
        self._build_lock = threading.RLock()
        self._builder: threading.Thread | None = None
        self.error: BaseException | None = None
        """What stopped the background builder (the rows stay queued; the next view raises it again)."""
        self._cached: tuple[Any, pd.DataFrame] | None = None
        self.auto_build = True
        """Build in the background once :attr:`AUTO_BUILD` items wait (off while a file is read)."""

    @contextmanager
    def building_paused(self) -> Iterator[None]:
        """No background building inside (a loader queues a whole file, then views build it)."""
        self.auto_build = False
        try:
            yield
        finally:
            self.auto_build = True

    def queue(self, what: Any, delivery: bool, t: float, conn: str | None, ack_ms: float | None, acks: Any) -> None:
        """Queue one item (call with the lock held). Cheap: a tuple appended to a list."""
        self._seq += 1
        self._queued += delivery
        self._pending.append((self._seq, self._queued, what, t, conn, ack_ms, acks))
        if self.auto_build and len(self._pending) >= self.AUTO_BUILD and self._builder is None:
            self._builder = threading.Thread(target=self._build_in_background, name="slacklab-rows", daemon=True)
            self._builder.start()

    @property
    def waiting(self) -> int:
        """Queued items not built yet (sequence numbers are consecutive)."""
        return max(0, self._seq - self.rows.state[2])

    def __len__(self) -> int:
        """Deliveries: rows built (archived ones included) plus queued items that look like envelopes."""
        state = self.rows.state
        return self.rows.total(state) + self._queued - state[3]

    def _build_in_background(self) -> None:
        try:
            # build a batch at a time while arrivals are slow; during a burst, wait for it to end
            # (or for BUSY_CAP items), so the listener keeps the GIL: a view still builds at once
            seen, then = self._seq, time.monotonic()
            time.sleep(self.BUSY_POLL)
            while self.waiting:
                now = time.monotonic()
                rate = (self._seq - seen) / max(1e-6, now - then)
                seen, then = self._seq, now
                if rate > self.BUSY_RATE and self.waiting < self.BUSY_CAP:
                    time.sleep(self.BUSY_POLL)
                    continue
                with self._build_lock:
                    self._build_batches(1, self.BACKGROUND_BATCH)
        except Exception as exc:  # nothing is lost: the items stay queued
            self.error = exc
        finally:
            with self._lock:
                self._builder = None

    def build(self, batch: int | None = None) -> None:
        """Build every queued item into rows, ``batch`` (default :attr:`BATCH`) at a time (see the module docstring)."""
        size = batch or self.BATCH
        with self._build_lock:
            # the collector stays off for up to 16 batches at a time: every object made here is
            # freed by reference counting, while each automatic collection would walk every
            # queued frame (a 1M-frame first view: ~25% faster)
            while self._build_batches(16, size):
                pass
            self.error = None

    def _build_batches(self, limit: int, size: int) -> bool:
        """Build up to ``limit`` batches; True if there may be more."""
        with paused_gc():
            for _ in range(limit):
                with self._lock:
                    built, pending = self.rows.state[2], self._pending
                    if pending and pending[0][0] <= built:
                        del pending[: built - pending[0][0] + 1]
                    batch = pending[:size]
                if not batch:
                    return False
                rows: list[dict[str, Any]] = []
                effects: list[tuple[Frame | ConnectionClosed, float, str]] = []
                for _seq, _n, what, t, conn, ack_ms, acks in batch:
                    convert(what, t, conn, ack_ms, acks, rows, effects)
                chunk = chunk_from_rows(rows) if rows else None
                with self._lock:
                    self.rows.append(chunk, built=(batch[-1][0], batch[-1][1]))
                    self._on_rows(rows)
                for frame, t, conn in effects:
                    self._on_frame(frame, t, conn)
                self._spill()
        return True

    def _spill(self, everything: bool = False) -> None:
        """Write full segments (``everything``: all rows not written yet) to the archive, then trim memory."""
        archive = self.archive
        if archive is None:
            return
        segment = min(self.SEGMENT_ROWS, max(1024, self.keep_rows or self.SEGMENT_ROWS))
        while len(self.rows) - archive.rows >= (1 if everything else segment):
            archive.write(self.rows.table(archive.rows).slice(0, segment))
        if self.keep_rows is not None:
            with self._lock:
                self.rows.drop_before(self.keep_rows, archive.rows)

    def extend_arrow(self, table: pa.Table, on_chunk: Callable[[pa.RecordBatch], None]) -> None:
        """Append rows already in the delivery schema; ``on_chunk`` (under the lock) updates counters."""
        with self._build_lock:
            self.build()
            for chunk in chunks_from_table(table):
                with self._lock:
                    self.rows.append(chunk)
                    on_chunk(chunk.batch)
                self._spill()

    def flush(self) -> None:
        """Build every queued row and write all rows not archived yet to the archive (if any)."""
        with self._build_lock:
            self.build()
            self._spill(everything=True)

    def frame(self) -> pd.DataFrame:
        """A snapshot of the rows in memory (the newest ``keep_rows``): a DataFrame of its own."""
        self.build()
        state = self.rows.state
        cached = self._cached
        if cached is None or cached[0] is not state[0]:
            cached = (state[0], self.rows.frame(self.keep_rows, state))
            self._cached = cached
        # a shallow copy: pandas (copy-on-write) copies a column the moment either side writes to it
        return cached[1].copy(deep=False)

    def parts(self) -> tuple[list[Path], pa.Table]:
        """Archive segments written so far and the rows after them (in memory), for SQL or export."""
        self.build()
        with self._build_lock:
            if self.archive is None:
                return [], self.rows.table()
            return list(self.archive.segments), self.rows.table(self.archive.rows)
