"""The capture: a thread-safe store of deliveries, connections and problems, with DataFrame views.

A :class:`Capture` is what :func:`slacklab.listen` returns and what
:func:`slacklab.load` rebuilds from a journal. Writers (the listener thread,
the HTTP receiver, the journal loader) call the ``record_*`` methods; they
only append to lists under a lock, so the listener's ack path stays fast.
Readers (notebook cells, widgets) call the views:

* :attr:`Capture.df` / :meth:`deliveries` — every delivery, retries included;
* :meth:`events` — one row per event with its delivery count;
* :meth:`connections` — Socket Mode connections: opened, hello info, closed, why;
* :meth:`problems` — malformed or unknown frames, kept verbatim (masked);
* :meth:`counts` — deliveries and events per event type;
* :meth:`wait_for` — block until *n* deliveries (or events) arrived.

Snapshots are incremental: a view converts only the rows added since the
previous snapshot, then appends them to the cached DataFrame.
"""

from __future__ import annotations

import html
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from slacklab.protocol import Disconnect, Envelope, Frame, Hello, Malformed, Unknown, parse_frame
from slacklab.redact import mask_json_text, mask_text
from slacklab.schema import make_row
from slacklab.table import FrameAppender, counts_by_type, deliveries_frame, empty_frame, events_view, paused_gc

__all__ = ["Capture"]

_CONNECTION_COLUMNS = (
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


def _utc(seconds: float | None) -> pd.Timestamp | None:
    return None if seconds is None else pd.Timestamp(seconds, unit="s", tz="UTC")


class Capture:
    """Deliveries captured live or loaded from disk, with pandas views.

    Args:
        source: ``"socket"`` or ``"http"`` — the default ``source`` column value.
        label: a short name shown in the repr (``"socket"``, a file name…).
    """

    def __init__(self, source: str = "socket", label: str | None = None) -> None:
        self.source = source
        self.label = label or source
        self._lock = threading.Condition()
        self._pending: list[dict[str, Any]] = []
        self._frame: pd.DataFrame | None = None
        self._appender = FrameAppender()
        self._snapshot_lock = threading.Lock()
        self._n_deliveries = 0
        self._keys: set[str] = set()
        self._type_counts: Counter[str] = Counter()
        self._recent: deque[float] = deque(maxlen=2000)
        self._connections: dict[str, dict[str, Any]] = {}
        self._problems: list[dict[str, Any]] = []
        self._notes: list[str] = []
        self._state = "idle"
        self._detail = ""
        self._started_at: float | None = None
        self._last_ack_ms: float | None = None
        self._stopper: Callable[[], None] | None = None
        self.journal_path: Path | None = None
        self.simulator: Any = None
        """The simulator feeding this capture, when :func:`slacklab.listen` started one."""
        self.url: str | None = None
        """Where deliveries come from or go to (the HTTP receiver's endpoint URL), if any."""

    # ------------------------------------------------------------- writers

    def record_delivery(self, row: dict[str, Any]) -> None:
        """Append one delivery row (see :func:`slacklab.schema.make_row`)."""
        with self._lock:
            self._pending.append(row)
            self._n_deliveries += 1
            key = row.get("event_key")
            if key:
                self._keys.add(key)
            self._type_counts[row.get("event_type") or "(none)"] += 1
            self._recent.append(row["received_at"])
            if row.get("ack_ms") is not None:
                self._last_ack_ms = row["ack_ms"]
            conn = self._connections.get(row.get("connection") or "")
            if conn is not None:
                conn["deliveries"] += 1
            self._lock.notify_all()

    def add_raw(
        self,
        raw: bytes | str,
        *,
        received_at: float,
        connection: str,
        ack_ms: float | None = None,
    ) -> None:
        """Record a frame exactly as received: the listener's hand-off after the ack.

        The listener does no parsing beyond what the ack needs; rows are built here.
        """
        text = raw if isinstance(raw, str) else raw.decode("utf-8", "replace")
        self.record_frame(parse_frame(text), received_at=received_at, connection=connection, ack_ms=ack_ms)

    def record_frame(
        self,
        frame: Frame,
        *,
        received_at: float,
        connection: str,
        ack_ms: float | None = None,
    ) -> None:
        """Record a parsed Socket Mode frame: envelopes become rows, the rest update tables.

        The listener and :func:`slacklab.load` both come through here, so a
        reloaded journal gives the same DataFrame as the live capture.
        """
        if isinstance(frame, Envelope):
            self.record_delivery(
                make_row(
                    source="socket",
                    kind=frame.type,
                    payload=frame.payload,
                    received_at=received_at,
                    connection=connection,
                    envelope_id=frame.envelope_id,
                    retry_attempt=frame.retry_attempt,
                    retry_reason=frame.retry_reason,
                    ack_ms=ack_ms,
                    accepts_response_payload=frame.accepts_response_payload,
                    replayed=True if frame.replayed else None,
                )
            )
        elif isinstance(frame, Hello):
            with self._lock:
                conn = self._connection(connection, received_at)
                conn.update(
                    hello_at=received_at,
                    num_connections=frame.num_connections,
                    app_id=frame.app_id,
                    host=frame.host,
                    approximate_connection_time=frame.approximate_connection_time,
                )
        elif isinstance(frame, Disconnect):
            with self._lock:
                conn = self._connection(connection, received_at)
                previous = conn.get("close_reason") or ""
                conn["close_reason"] = (
                    f"{previous}, {frame.reason}"
                    if previous.startswith("disconnect: ")
                    else f"disconnect: {frame.reason}"
                )
        elif isinstance(frame, Malformed | Unknown):
            problem = frame.problem if isinstance(frame, Malformed) else f"unknown frame type {frame.type!r}"
            text = frame.text if isinstance(frame, Malformed) else mask_json_text(frame.data)
            self.record_problem(received_at, connection, problem, text)

    def record_problem(self, at: float, connection: str | None, problem: str, text: str = "") -> None:
        """Keep something unusable that arrived (masked, truncated to 2,000 characters)."""
        with self._lock:
            self._problems.append(
                {
                    "at": at,
                    "connection": connection,
                    "problem": problem,
                    "text": mask_text(text[:2000]),
                }
            )

    def record_connection_opened(self, connection: str, at: float) -> None:
        """A WebSocket connection was opened."""
        with self._lock:
            self._connection(connection, at)

    def record_connection_closed(self, connection: str, at: float, reason: str) -> None:
        """A connection closed; ``reason`` in plain words (kept if a disconnect reason is known)."""
        with self._lock:
            conn = self._connection(connection, at)
            conn["closed_at"] = at
            if reason and not conn.get("close_reason"):
                conn["close_reason"] = reason
            elif reason and reason not in conn["close_reason"]:
                conn["close_reason"] = f"{conn['close_reason']}; {reason}"

    def _connection(self, connection: str, at: float) -> dict[str, Any]:
        conn = self._connections.get(connection)
        if conn is None:
            conn = dict.fromkeys(_CONNECTION_COLUMNS)
            conn.update(connection=connection, opened_at=at, deliveries=0)
            self._connections[connection] = conn
        return conn

    def set_state(self, state: str, detail: str = "") -> None:
        """Set the lifecycle state shown in the repr (``connecting``, ``listening``, ``stopped``…)."""
        with self._lock:
            self._state = state
            self._detail = mask_text(detail)
            if state in ("connecting", "listening", "receiving") and self._started_at is None:
                self._started_at = time.time()
            self._lock.notify_all()

    def note(self, message: str) -> None:
        """Keep a user-facing note (warnings such as "another consumer is connected")."""
        with self._lock:
            self._notes.append(mask_text(message))

    def _attach_stopper(self, stopper: Callable[[], None]) -> None:
        self._stopper = stopper

    # ------------------------------------------------------------- readers

    @property
    def state(self) -> str:
        """``idle``, ``connecting``, ``listening``, ``reconnecting``, ``stopped``, ``failed`` or ``loaded``."""
        return self._state

    @property
    def detail(self) -> str:
        """Why the capture is in its state, in plain words (for example why it stopped)."""
        return self._detail

    @property
    def notes(self) -> list[str]:
        """Warnings and remarks gathered while capturing."""
        with self._lock:
            return list(self._notes)

    @property
    def running(self) -> bool:
        """True while a listener or receiver is feeding this capture."""
        return self._state in ("connecting", "listening", "reconnecting", "receiving")

    def __len__(self) -> int:
        return self._n_deliveries

    @property
    def n_events(self) -> int:
        """How many distinct events (by ``event_key``) arrived so far."""
        return len(self._keys)

    def deliveries(self) -> pd.DataFrame:
        """Every delivery so far, one row each (retries and duplicates included)."""
        with self._snapshot_lock:
            with self._lock:
                pending, self._pending = self._pending, []
            # FrameAppender: the same frame as pd.concat([old, new]) but in O(new rows), so a
            # refresh of a million-row capture stays fast (benchmarks/bench_million.py).
            with paused_gc():
                if self._frame is None:
                    self._frame = self._appender.append(deliveries_frame(pending) if pending else empty_frame())
                elif pending:
                    self._frame = self._appender.append(deliveries_frame(pending))
            return self._frame

    @property
    def df(self) -> pd.DataFrame:
        """Shortcut for :meth:`deliveries`."""
        return self.deliveries()

    def events(self) -> pd.DataFrame:
        """One row per event (de-duplicated on ``event_key``) with a ``deliveries`` count."""
        return events_view(self.deliveries())

    def counts(self) -> pd.DataFrame:
        """Deliveries, distinct events and retries per event type."""
        return counts_by_type(self.deliveries())

    def connections(self) -> pd.DataFrame:
        """One row per Socket Mode connection: opened, hello info, closed and why."""
        with self._lock:
            rows = [dict(c) for c in self._connections.values()]
        df = pd.DataFrame(rows, columns=list(_CONNECTION_COLUMNS))
        for col in ("opened_at", "hello_at", "closed_at"):
            df[col] = pd.to_datetime(df[col].astype("float64"), unit="s", utc=True)
        for col in ("num_connections", "approximate_connection_time", "deliveries"):
            df[col] = df[col].astype("Int64")
        return df

    def problems(self) -> pd.DataFrame:
        """Frames or requests that could not be used, kept (masked) with the reason."""
        with self._lock:
            rows = list(self._problems)
        df = pd.DataFrame(rows, columns=["at", "connection", "problem", "text"])
        df["at"] = pd.to_datetime(df["at"].astype("float64"), unit="s", utc=True)
        return df

    def wait_for(self, n: int, timeout: float = 30.0, *, events: bool = False) -> int:
        """Block until ``n`` deliveries (or distinct ``events``) arrived, or ``timeout`` seconds.

        Returns how many there are now, so ``capture.wait_for(100) >= 100``
        tells whether the wait succeeded. Returns early if the capture stops.
        """
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                have = len(self._keys) if events else self._n_deliveries
                left = deadline - time.monotonic()
                if have >= n or left <= 0 or self._state in ("stopped", "failed"):
                    return have
                self._lock.wait(min(left, 0.5))

    def rate(self, window: float = 10.0) -> float:
        """Deliveries per second over the last ``window`` seconds (of receive time)."""
        with self._lock:
            if not self._recent:
                return 0.0
            latest = max(self._recent[-1], time.time()) if self.running else self._recent[-1]
            recent = [t for t in self._recent if t >= latest - window]
        return len(recent) / window

    def stop(self) -> None:
        """Stop the listener or receiver feeding this capture. Safe to call twice."""
        stopper = self._stopper
        if stopper is not None:
            stopper()

    def to_csv(
        self,
        path: str | Path,
        *,
        view: str = "deliveries",
        columns: Iterable[str] | None = None,
        overwrite: bool = True,
    ) -> Path:
        """Write a view (``deliveries`` or ``events``) as safe CSV; see :func:`slacklab.export.to_csv`."""
        from slacklab.export import to_csv

        frames = {"deliveries": self.deliveries, "events": self.events}
        if view not in frames:
            raise ValueError(f"view must be one of {sorted(frames)}, not {view!r}")
        return to_csv(frames[view](), path, columns=columns, overwrite=overwrite)

    # ------------------------------------------------------------- display

    def _summary(self) -> dict[str, Any]:
        with self._lock:
            open_conns = sum(1 for c in self._connections.values() if c["closed_at"] is None)
            return {
                "state": self._state,
                "detail": self._detail,
                "deliveries": self._n_deliveries,
                "events": len(self._keys),
                "types": self._type_counts.most_common(5),
                "open": open_conns,
                "connections": len(self._connections),
                "problems": len(self._problems),
                "last_ack_ms": self._last_ack_ms,
                "notes": list(self._notes[-3:]),
            }

    def __repr__(self) -> str:
        s = self._summary()
        parts = [
            f"Capture {self.label!r}: {s['state']}",
            f"{s['deliveries']} deliveries / {s['events']} events",
        ]
        if s["connections"]:
            parts.append(f"{s['open']} open of {s['connections']} connections")
        if self.running:
            parts.append(f"{self.rate():.1f}/s")
        if s["last_ack_ms"] is not None:
            parts.append(f"last ack {s['last_ack_ms']:.1f} ms")
        if s["problems"]:
            parts.append(f"{s['problems']} problems")
        text = "<" + ", ".join(parts) + ">"
        if s["types"]:
            text += "\n  top types: " + ", ".join(f"{t} {n}" for t, n in s["types"])
        if s["detail"]:
            text += f"\n  {s['detail']}"
        return text

    def _repr_html_(self) -> str:
        s = self._summary()
        esc = html.escape
        colour = {"listening": "#2e7d32", "receiving": "#2e7d32", "failed": "#c62828", "stopped": "#555"}.get(
            s["state"], "#ef6c00"
        )
        rows = "".join(f"<tr><td>{esc(str(t))}</td><td>{n}</td></tr>" for t, n in s["types"])
        notes = "".join(f"<li>{esc(n)}</li>" for n in s["notes"])
        rate = f" · {self.rate():.1f}/s" if self.running else ""
        ack = f" · last ack {s['last_ack_ms']:.1f} ms" if s["last_ack_ms"] is not None else ""
        return (
            f"<div class='slacklab-capture'><b>slacklab capture</b> {esc(self.label)} · "
            f"<span style='color:{colour}'>{esc(s['state'])}</span>"
            f" · {s['deliveries']} deliveries / {s['events']} events{rate}{ack}"
            f" · {s['open']} open / {s['connections']} connections"
            + (f" · {s['problems']} problems" if s["problems"] else "")
            + (f"<br><i>{esc(s['detail'])}</i>" if s["detail"] else "")
            + (f"<table><tr><th>event type</th><th>deliveries</th></tr>{rows}</table>" if rows else "")
            + (f"<ul>{notes}</ul>" if notes else "")
            + "</div>"
        )
