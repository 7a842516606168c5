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
* :meth:`wait_for` — block until *n* deliveries (or events) arrived;
* :meth:`to_parquet`, :meth:`sql` (DuckDB), :meth:`arrow` — the rows as Parquet, SQL, Arrow.

Writers only queue what arrived (raw frames stay bytes); rows are built in
batches, off the listener's ack path, into the typed column store of
:mod:`slacklab.store`. A snapshot converts only the rows added since the previous
one, is never shared with the store, and an interrupted one loses nothing.
With ``archive=`` (and ``keep_rows=``) older rows go to Parquet segments
(:mod:`slacklab.archive`) and :meth:`Capture.sql` queries all of them.
"""

from __future__ import annotations

import html
import itertools
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from slacklab.archive import read_parquet, run_sql, write_parquet
from slacklab.ingest import ConnectionClosed, Connections, RowLog, looks_like_envelope
from slacklab.protocol import Envelope, Frame, Malformed, Unknown
from slacklab.redact import mask_json_text, mask_text
from slacklab.respond import Responder, Responders
from slacklab.table import counts_by_type, events_view, format_ms

__all__ = ["Capture"]


class Capture:
    """Deliveries captured live or loaded from disk, with pandas views.

    Args:
        source: ``"socket"`` or ``"http"`` — the default ``source`` column value.
        label: a short name shown in the repr (``"socket"``, a file name…).
        archive: a folder: rows are also written there as Parquet segments (one
            stable schema), so the whole capture stays on disk however long it runs;
            ``capture.sql()`` reads them with the rows in memory.
        keep_rows: hold only the newest ``keep_rows`` rows in memory (needs
            ``archive``, where the older ones are); ``capture.df`` shows those.
    """

    def __init__(
        self,
        source: str = "socket",
        label: str | None = None,
        *,
        archive: str | Path | None = None,
        keep_rows: int | None = None,
    ) -> None:
        self.source = source
        self.label = label or source
        self._lock = threading.Condition()
        self._log = RowLog(self._lock, self._count, self._apply_frame, archive=archive, keep_rows=keep_rows)
        self._keys: set[str] = set()
        self._type_counts: Counter[str] = Counter()
        self._recent: deque[float] = deque(maxlen=2000)
        self._connections = Connections()
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
        self.responders = Responders()
        """The responders that answer in the ack (:meth:`respond`); its repr lists them."""

    # ------------------------------------------------------------- writers (cheap: queue only)

    def _queue(
        self, what: Any, delivery: bool, t: float, connection: str | None, ack_ms: float | None, acks: Any
    ) -> None:
        with self._lock:
            self._log.queue(what, delivery, t, connection, ack_ms, acks)
            if delivery:
                self._recent.append(t)
                if ack_ms is not None:
                    self._last_ack_ms = ack_ms
            self._lock.notify_all()

    def record_delivery(self, row: dict[str, Any]) -> None:
        """Append one delivery row (see :func:`slacklab.schema.make_row`)."""
        self._queue(row, True, row["received_at"], row.get("connection"), row.get("ack_ms"), None)

    def record_later(self, make: Callable[[], dict[str, Any]], *, received_at: float) -> None:
        """Queue a delivery whose row ``make()`` builds later, in a batch (a log reader's rows)."""
        self._queue(make, True, received_at, None, None, None)

    def add_raw(
        self,
        raw: bytes | str,
        *,
        received_at: float,
        connection: str,
        ack_ms: float | None = None,
    ) -> None:
        """Record a frame exactly as received: the listener's hand-off after the ack.

        Only queues it: the row is built (parsed, extracted, masked) later in a batch,
        when a view is asked for or in the background, never on the ack path.
        """
        self._queue(raw, looks_like_envelope(raw), received_at, connection, ack_ms, None)

    def add_journaled(
        self, raw: bytes | str, *, received_at: float, connection: str, acks: dict[tuple[str, str], Any]
    ) -> None:
        """Queue a frame read back from a journal (or answered in its ack); its ack time, or
        ``(ms, masked response payload)``, is looked up in ``acks`` by ``(connection, envelope id)``."""
        self._queue(raw, looks_like_envelope(raw), received_at, connection, None, acks)

    def record_frame(
        self,
        frame: Frame,
        *,
        received_at: float,
        connection: str,
        ack_ms: float | None = None,
    ) -> None:
        """Record a parsed Socket Mode frame: envelopes become rows, the rest update tables.

        The listener and :func:`slacklab.load` both come through here (or :meth:`add_raw`),
        so a reloaded journal gives the same DataFrame as the live capture.
        """
        if isinstance(frame, Envelope):
            self._queue(frame, True, received_at, connection, ack_ms, None)
        else:
            self._apply_frame(frame, received_at, connection)

    def _apply_frame(self, frame: Frame | ConnectionClosed, received_at: float, connection: str) -> None:
        if isinstance(frame, Malformed | Unknown):
            problem = frame.problem if isinstance(frame, Malformed) else f"unknown frame type {frame.type!r}"
            text = frame.text if isinstance(frame, Malformed) else mask_json_text(frame.data)
            self.record_problem(received_at, connection, problem, text)
        else:
            with self._lock:
                self._connections.apply(frame, received_at, connection)

    def _count(self, rows: list[dict[str, Any]]) -> None:
        """Counters for the repr and ``wait_for`` (called by the row log, lock held)."""
        for row in rows:
            key = row.get("event_key")
            if key:
                self._keys.add(key)
            self._type_counts[row.get("event_type") or "(none)"] += 1
            self._connections.count(row.get("connection"))

    def _count_batch(self, batch: pa.RecordBatch) -> None:
        self._keys.update(batch.column("event_key").drop_null().to_pylist())
        for item in batch.column("event_type").fill_null("(none)").value_counts().to_pylist():
            self._type_counts[item["values"]] += item["counts"]

    def extend_arrow(self, table: pa.Table) -> None:
        """Append rows already in the delivery schema (a Parquet file, a DuckDB result)."""
        self._log.extend_arrow(table, self._count_batch)

    def flush(self) -> None:
        """Build every queued row and write all rows not archived yet to the archive (if any).

        Called when the capture stops; call it yourself to make the archive complete now.
        """
        self._log.flush()

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
            self._connections.get(connection, at)

    def record_connection_closed(self, connection: str, at: float, reason: str) -> None:
        """A connection closed; ``reason`` in plain words (kept if a disconnect reason is known).

        Queued behind the frames that arrived before it (a ``disconnect`` frame's reason comes first).
        """
        self._queue(ConnectionClosed(reason), False, at, connection, None, None)

    def building_paused(self) -> Any:
        """A context in which queued frames wait for a view instead of being built in the background."""
        return self._log.building_paused()

    def set_state(self, state: str, detail: str = "") -> None:
        """Set the lifecycle state shown in the repr (``connecting``, ``listening``, ``stopped``…)."""
        with self._lock:
            self._state = state
            self._detail = mask_text(detail)
            if state in ("connecting", "listening", "receiving") and self._started_at is None:
                self._started_at = time.time()
            self._lock.notify_all()
        if state in ("stopped", "failed") and self._log.archive is not None:
            self.flush()  # the archive is complete once the capture stops

    def note(self, message: str) -> None:
        """Keep a user-facing note (warnings such as "another consumer is connected")."""
        with self._lock:
            self._notes.append(mask_text(message))

    def respond(self, what: str, fn: Callable[[dict[str, Any]], Any] | None, **filters: Any) -> Responder | None:
        """Answer ``what`` (``"/deploy"``, ``"block_suggestion"``…) in the ack with ``fn(payload)``; ``None`` removes it.

        ``filters``: ``action_id=``, ``callback_id=``, ``when=``, ``deadline=`` (see
        :meth:`slacklab.respond.Responders.set` and ``docs/responses.md``).
        """
        return self.responders.set(what, fn, **filters)

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
        with self._lock:
            return len(self._log)

    @property
    def keep_rows(self) -> int | None:
        """How many of the newest rows stay in memory (``None``: all of them)."""
        return self._log.keep_rows

    @property
    def n_events(self) -> int:
        """How many distinct events (by ``event_key``) arrived so far."""
        self._log.build()
        return len(self._keys)

    def deliveries(self) -> pd.DataFrame:
        """Every delivery so far, one row each (retries and duplicates included).

        With ``keep_rows``, the newest ``keep_rows`` rows (the index numbers them in
        the whole capture; :meth:`sql` reads them all). The frame is yours: changing
        it never changes the capture or later snapshots.
        """
        return self._log.frame()

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

    def arrow(self) -> pa.Table:
        """The rows in memory as an Arrow table in :data:`slacklab.store.ARROW_SCHEMA` (no copy)."""
        self._log.build()
        return self._log.rows.table()

    def to_parquet(self, path: str | Path) -> Path:
        """Write every row (archived and in memory) to one Parquet file; reload it with :func:`slacklab.load`."""
        segments, live = self._log.parts()
        return write_parquet(itertools.chain((read_parquet(p) for p in segments), [live]), path)

    def sql(self, query: str) -> pd.DataFrame:
        """Run a DuckDB query over every row, archive included, as the table ``deliveries``.

        Example: ``cap.sql("select event_type, count(*) n from deliveries group by 1 order by n desc")``.
        Needs DuckDB (``pip install 'slacklab[sql]'``).
        """
        segments, live = self._log.parts()
        return run_sql(query, live, segments)

    @property
    def archive(self) -> Path | None:
        """The archive folder of Parquet segments, if any."""
        return self._log.archive.folder if self._log.archive is not None else None

    def connections(self) -> pd.DataFrame:
        """One row per Socket Mode connection: opened, hello info, closed and why."""
        self._log.build()
        with self._lock:
            return self._connections.frame()

    def problems(self) -> pd.DataFrame:
        """Frames or requests that could not be used, kept (masked) with the reason."""
        self._log.build()
        with self._lock:
            rows = list(self._problems)
        df = pd.DataFrame(rows, columns=["at", "connection", "problem", "text"])
        at = pd.to_datetime(df["at"].astype("float64"), unit="s", utc=True)
        df["at"] = at.dt.round("us").astype("datetime64[us, UTC]")  # as received_at: no float noise in ns
        return df

    def wait_for(self, n: int, timeout: float = 30.0, *, events: bool = False) -> int:
        """Block until ``n`` deliveries (or distinct ``events``) arrived, or ``timeout`` seconds.

        Returns how many there are now, so ``capture.wait_for(100) >= 100``
        tells whether the wait succeeded. Returns early if the capture stops.
        """
        deadline = time.monotonic() + timeout
        while True:
            if events:
                self._log.build()
            with self._lock:
                have = len(self._keys) if events else len(self)
                left = deadline - time.monotonic()
                if have >= n or left <= 0 or self._state in ("stopped", "failed"):
                    return have
                self._lock.wait(min(left, 0.1 if events else 0.5))

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
        self._log.build()
        with self._lock:
            open_conns = self._connections.open_count()
            return {
                "state": self._state,
                "detail": self._detail,
                "deliveries": len(self._log),
                "held": self._log.keep_rows,
                "archive": self.archive,
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
            parts.append(f"last ack {format_ms(s['last_ack_ms'])}")
        if s["problems"]:
            parts.append(f"{s['problems']} problems")
        if s["archive"] is not None:
            held = f"last {s['held']:,} rows in memory (cap.df), " if s["held"] is not None else ""
            parts.append(f"{held}archive {str(s['archive'])!r} (cap.sql)")
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
        ack = f" · last ack {format_ms(s['last_ack_ms'])}" if s["last_ack_ms"] is not None else ""
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
