"""Line up two captures — typically Socket Mode and HTTP — event by event, and say what differs: :func:`compare`.

``compare(a, b)`` takes DataFrames in the delivery schema, captures, or paths
(a Socket Mode journal or any HTTP log, loaded with :func:`slacklab.load`) and
returns a :class:`Comparison`.

How events are matched, in order (each pair records which key matched it):

1. ``event_id`` for events (``events_api``), ``trigger_id`` for slash commands
   and interactivity;
2. for events still unmatched, a **content key**: event type, channel, ``ts``
   and user. The same message reaching two apps (one per delivery mode) can
   carry different ``event_id``\\s, and one app receives its events over HTTP
   *or* Socket Mode, never both at once — so a real comparison is two apps, or
   one app at two times (see ``docs/http-vs-socket.md``). Content matches say so
   (``matched_on == "content"``).

What is compared: deliveries of kind ``events_api``, ``slash_commands`` and
``interactive``. HTTP-only requests (``url_verification``, ``ssl_check``,
``app_rate_limited``) are counted apart, and so are requests whose signature
was ``invalid``, ``stale`` or ``missing`` (a receiver with the signing secret
refuses those; they are not Slack's deliveries) unless ``include_rejected``.

Definitions: *retries* are deliveries with ``retry_attempt`` > 0; *duplicates*
are extra arrivals of an event already seen (retries included, plus copies
with no retry marker); *latency* is the first *accepted* delivery's ``received_at``
(HTTP: answered 2xx) minus when the event happened (``event.event_ts`` when precise, else ``event_time``:
see :mod:`slacklab.comparison.tables`); slash commands and interactivity have none.

Next: ``cmp`` in a notebook (headline, charts, tables), ``cmp.summary``,
``cmp.timeline`` (which delivery came when and why), ``cmp.dedup``,
``cmp.signatures``, ``cmp.offline``, ``cmp.plot(kind=...)``, ``cmp.to_csv(...)``,
``cmp.to_html("report.html")``, and ``slacklab.explore(cmp)`` for the widget.
"""

from __future__ import annotations

import functools
import html
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

import slacklab.comparison.explain as explain
import slacklab.comparison.report as report
import slacklab.comparison.tables as tables
from slacklab.comparison.tables import COMPARED_KINDS
from slacklab.errors import ExportError
from slacklab.export import to_csv
from slacklab.table import select_rows, values_at

__all__ = ["COMPARED_KINDS", "Comparison", "compare"]

log = logging.getLogger("slacklab.comparison.lineup")

_ENVELOPE_NOTE = (
    "accepts_response_payload, retry_attempt and retry_reason sit in the Socket Mode envelope, outside the "
    "payload column; HTTP has no envelope and carries retries in X-Slack-Retry-* headers. Both land in the "
    "same retry_attempt/retry_reason columns."
)
_PLOTS = ("latency", "by_type", "retries", "types")


class Comparison:
    """The result of :func:`compare`: tables as DataFrames, charts, a headline, and reports.

    Attributes (``A``/``B`` stand for the two labels, e.g. ``socket``/``http``):
        labels: the two side names, in argument order.
        summary: metric × side: deliveries, events, matched, only here, retries,
            duplicates, order changes, what was left out, latency percentiles,
            time without a connection, matches per key (numbers; display formats them).
        by_type: per event type: ``A_events``, ``B_events``, ``matched``,
            ``only_A``, ``only_B``, deliveries, retries and duplicates per side.
        events: the line-up, one row per event: ``status`` (``matched``,
            ``only_A``, ``only_B``), ``matched_on``, ids and content, per side
            deliveries, retries, first receive time, latency and arrival order,
            ``happened_at``, ``gap_s`` (B's first arrival minus A's) and ``order_shift``.
        matched, only_a, only_b: slices of :attr:`events`.
        latency: per side and event type (``(all)`` first): p50/p90/p99/max seconds.
        timeline: every delivery of every compared event: which one, when after the
            event happened (``after_s``), and ``why`` (first delivery, retry *n*: reason).
        dedup: per side, what de-duplication on the event key dropped.
        signatures: deliveries per signature verdict and side.
        offline: time without a live Socket Mode connection, per side that has connections.
        fields: top-level payload keys over matched pairs and where they appear.
        notes: plain-words caveats about this comparison.
    """

    def __init__(
        self,
        a: pd.DataFrame,
        b: pd.DataFrame,
        labels: tuple[str, str],
        include_rejected: bool,
        connections: tuple[pd.DataFrame | None, pd.DataFrame | None] = (None, None),
    ) -> None:
        self.labels = labels
        la, lb = labels
        self._inputs = (a, b, include_rejected, connections)
        self.sources: tuple[Any, Any] = (a, b)
        """What was compared: the captures (followed live by the widget) or DataFrames."""
        sides = (
            tables.side(a, include_rejected, connections[0]),
            tables.side(b, include_rejected, connections[1]),
        )
        lineup, self._ia, self._ib = tables.lineup(sides[0].events, sides[1].events, labels)
        # positions, not copies: the payload of line-up row r on side A is row _rows[0][_ia[r]] of A's frame
        self._rows = tuple(s.payload_rows for s in sides)
        self._all_payloads = tuple(_payload_column(s.everything) for s in sides)
        self.latency = tables.latency(lineup, labels)
        self.by_type = tables.by_type(lineup, labels)
        self.timeline = explain.timeline(sides, labels)
        self.dedup = explain.dedup(sides, labels)
        self.signatures = explain.signatures(sides, labels)
        self.offline = explain.offline(sides, labels)
        self.summary = explain.summary(lineup, sides, labels, self.latency, self.offline)
        self.events = lineup
        status = lineup["status"].to_numpy()
        self.matched = select_rows(lineup, status == "matched")
        self.only_a = select_rows(lineup, status == f"only_{la}")
        self.only_b = select_rows(lineup, status == f"only_{lb}")
        self.replayed = tuple(
            int(s.deliveries["replayed"].fillna(False).astype(bool).sum()) if "replayed" in s.deliveries else 0
            for s in sides
        )
        self.notes = self._notes(sides)

    # ---------------------------------------------------------- derive

    def filtered(self, select: Callable[[pd.DataFrame], pd.DataFrame]) -> Comparison:
        """The same comparison over ``select(deliveries)`` of each side (one filter, both sides at once).

        ``select`` is any DataFrame → DataFrame function, e.g.
        ``slacklab.notebook.filters.Filters(event_types=("message",)).apply``.
        """
        a, b, include_rejected, connections = self._inputs
        out = Comparison(select(a), select(b), self.labels, include_rejected, connections)
        out.sources = self.sources
        return out

    def refreshed(self) -> Comparison:
        """Compared again from the same sources: a live capture contributes what arrived since."""
        a, b, include_rejected, _ = self._inputs
        if not any(callable(getattr(s, "deliveries", None)) for s in self.sources):
            return self
        frames = [
            tables.frame(s, None) if callable(getattr(s, "deliveries", None)) else (x, None, None)
            for s, x in zip(self.sources, (a, b), strict=True)
        ]
        out = Comparison(frames[0][0], frames[1][0], self.labels, include_rejected, (frames[0][2], frames[1][2]))
        out.sources = self.sources
        return out

    def diff(self, row: int) -> pd.DataFrame:
        """Field by field, where line-up row ``row``'s two payloads differ (dotted paths; ``—``: absent)."""
        return explain.payload_diff(*self.payloads(row), self.labels)

    def payloads(self, row: int) -> tuple[Any, Any]:
        """The two payloads (masked JSON text, ``None`` where a side has none) of line-up row ``row``."""
        if not 0 <= row < len(self._ia):
            raise KeyError(row)
        picks = (int(self._ia[row]), int(self._ib[row]))
        return tuple(  # type: ignore[return-value]
            values.iloc[rows[i]] if i >= 0 else np.nan
            for values, rows, i in zip(self._all_payloads, self._rows, picks, strict=True)
        )

    @functools.cached_property
    def fields(self) -> pd.DataFrame:
        """Top-level payload keys over matched pairs and where they appear (worked out on first use)."""
        matched = (self._ia >= 0) & (self._ib >= 0)
        texts = [
            values_at(values, rows[i[matched]])
            for values, rows, i in zip(self._all_payloads, self._rows, (self._ia, self._ib), strict=True)
        ]
        return explain.fields(texts[0], texts[1], int(matched.sum()), self.labels)

    def readable(self, table: str = "summary") -> pd.DataFrame:
        """A table as people read it (strings: counts as integers, ``12 ms``/``1.43 s``, ``HH:MM:SS.mmm``).

        ``table``: any name :meth:`to_csv` takes. The attributes stay numeric for your own analysis.
        """
        frames = self._tables()
        if table not in frames:
            raise ValueError(f"table must be one of {sorted(frames)}, not {table!r}")
        return report.for_people(frames[table], index_seconds=table == "summary")

    def _tables(self) -> dict[str, pd.DataFrame]:
        return {
            "events": self.events,
            "by_type": self.by_type,
            "summary": self.summary,
            "latency": self.latency,
            "timeline": self.timeline,
            "dedup": self.dedup,
            "signatures": self.signatures,
            "offline": self.offline,
            "fields": self.fields,
            "matched": self.matched,
            "only_a": self.only_a,
            "only_b": self.only_b,
        }

    def _notes(self, sides: tuple[tables.Side, tables.Side]) -> list[str]:
        notes = []
        content = int((self.matched["matched_on"] == "content").sum())
        if content:
            notes.append(
                f"{content} event(s) matched on content (type, channel, ts, user), not on an id: "
                "the two sides saw them under different event_ids (two apps?)."
            )
        for label, s, replayed in zip(self.labels, sides, self.replayed, strict=True):
            if s.rejected:
                notes.append(
                    f"{s.rejected} {label} deliveries with an invalid, stale or missing signature "
                    "were left out (include_rejected=True keeps them)."
                )
            if s.other:
                notes.append(
                    f"{s.other} {label} deliveries of other kinds (url_verification, ssl_check, "
                    "app_rate_limited…) were counted but not compared."
                )
            if replayed:
                notes.append(
                    f"{replayed} {label} deliveries were replayed by slacklab, not sent by Slack: "
                    "their latency measures the replay."
                )
        p50 = pd.to_numeric(self.summary.loc["latency p50 (s)"], errors="coerce")
        if (p50.abs() > 3600).any():
            notes.append(
                "Events arrived more than an hour after they happened: a replay, or payloads recorded "
                "with a fixed clock? Compare arrival gaps (gap_s) instead of latency."
            )
        notes.append(
            "Latency counts from event.event_ts when it is precise, else from event_time (whole seconds): "
            "with the second-resolution fallback, sub-second differences are noise."
        )
        notes.append(_ENVELOPE_NOTE)
        return notes

    def headline(self) -> list[str]:
        """What differs, in a few plain sentences (the top of the display and the report)."""
        la, lb = self.labels
        s = self.summary
        lines = [
            f"{la} saw {s.loc['events', la]} events, {lb} {s.loc['events', lb]}; "
            f"{s.loc['matched', la]} matched, {s.loc['only here', la]} only {la}, {s.loc['only here', lb]} only {lb}."
        ]
        p50 = [report.fmt_seconds(s.loc["latency p50 (s)", x]) for x in self.labels]
        p99 = [report.fmt_seconds(s.loc["latency p99 (s)", x]) for x in self.labels]
        lines.append(f"Latency p50: {la} {p50[0]}, {lb} {p50[1]}; p99: {la} {p99[0]}, {lb} {p99[1]}.")
        for label in self.labels:
            d = self.dedup.loc[label] if label in self.dedup.index else None
            if d is not None and d["dropped as duplicates"]:
                lines.append(
                    f"{label}: {d['dropped as duplicates']} extra deliveries dropped by de-duplication "
                    f"({d['of which retries']} retries, {d['of which copies without a retry marker']} copies)."
                )
        for label in self.labels:
            lost = s.loc["not accepted (every answer an error)", label]
            if lost:
                lines.append(
                    f"{label}: {lost} events reached the app but were never accepted (every answer an error); "
                    "Slack does not retry slash commands or interactivity."
                )
        moved = s.loc["arrived in a different order", la]
        if moved:
            lines.append(f"{moved} matched events arrived in a different order on the two sides.")
        refused = self.signatures[self.signatures["refused"]]
        for label, n in refused.groupby("side")["deliveries"].sum().items():
            lines.append(
                f"{label}: {n} requests with a bad or stale signature (a receiver with the secret answers 401)."
            )
        for _, row in self.offline.iterrows():
            if row["offline_s"] > 0:
                lines.append(f"{row['side']}: {report.fmt_seconds(row['offline_s'])} without a live connection.")
        return lines

    # ----------------------------------------------------------- display

    def plot(self, ax: Axes | None = None, *, kind: str = "latency", limit: int = 12) -> Axes:
        """One chart; returns its ``Axes`` (a new ``Figure`` when ``ax`` is ``None``, no pyplot state).

        ``kind``: ``latency`` (CDF per side), ``by_type`` (latency box per event type),
        ``retries`` (deliveries of events that came more than once) or ``types``
        (matched and one-side-only events per type). Every chart uses the same colour per side.
        In a notebook, pass ``ax=slacklab.notebook.plots.new_axes()`` to have it shown inline.
        """
        if kind == "latency":
            return report.plot_latency_cdf(self, ax)
        if kind == "by_type":
            return report.plot_latency_by_type(self, ax, limit=min(limit, 8))
        if kind == "retries":
            return report.plot_retry_timeline(self, ax, limit=limit)
        if kind == "types":
            return report.plot_types(self, ax, limit=limit)
        raise ValueError(f"kind must be one of {_PLOTS}, not {kind!r}")

    def figure(self) -> Figure:
        """Latency CDF, latency per type and the retry timeline in one figure."""
        return report.overview(self)

    def __repr__(self) -> str:
        la, lb = self.labels
        s = self.summary
        on = ", ".join(f"{int(s.loc[f'matched on {k}', la])} {k}" for k in ("event_id", "trigger_id", "content"))
        text = (
            f"<Comparison {la} vs {lb}: {s.loc['events', la]} vs {s.loc['events', lb]} events, "
            f"{s.loc['matched', la]} matched ({on}), only {la} {s.loc['only here', la]}, "
            f"only {lb} {s.loc['only here', lb]}>"
        )
        text += (
            f"\n  retries: {la} {s.loc['retries', la]}, {lb} {s.loc['retries', lb]}"
            f" · duplicates: {la} {s.loc['duplicates', la]}, {lb} {s.loc['duplicates', lb]}"
        )
        p50 = pd.to_numeric(s.loc["latency p50 (s)"], errors="coerce")
        if p50.notna().any():
            text += f"\n  latency p50: {la} {report.fmt_seconds(p50[la])}, {lb} {report.fmt_seconds(p50[lb])}"
        top = self.by_type.iloc[:6]
        if len(top):
            text += "\n  by type: " + ", ".join(
                f"{t} {r[f'{la}_events']}/{r[f'{lb}_events']}" for t, r in top.iterrows()
            )
        return text

    def _repr_html_(self) -> str:
        return f"<div class='slacklab-comparison'>{report.report_html(self, None)}</div>"

    # ----------------------------------------------------------- export

    def to_csv(self, path: str | Path, *, table: str = "events", overwrite: bool = True) -> Path:
        """Write one table as safe CSV (masked, formula-neutralised; see :mod:`slacklab.export`).

        ``table``: ``events`` (the line-up, default), ``by_type``, ``summary``,
        ``latency``, ``timeline``, ``dedup``, ``signatures``, ``offline``, ``fields``,
        ``matched``, ``only_a`` or ``only_b``.
        """
        frames = self._tables()
        if table not in frames:
            raise ValueError(f"table must be one of {sorted(frames)}, not {table!r}")
        chosen = frames[table]
        if table in ("by_type", "summary", "dedup"):
            chosen = chosen.reset_index()
        return to_csv(chosen, path, overwrite=overwrite)

    def to_html(self, path: str | Path, *, events_limit: int = 5000, overwrite: bool = True) -> Path:
        """Write a self-contained HTML report: headline, charts, every table, the line-up."""
        path = Path(path)
        if path.exists() and not overwrite:
            raise ExportError(f"{path} already exists; pass overwrite=True (or --force) to replace it")
        la, lb = (html.escape(x) for x in self.labels)
        page = (
            f"<!doctype html><html><head><meta charset='utf-8'><title>slacklab: {la} vs {lb}</title>"
            "<style>body{font-family:sans-serif;margin:2em;max-width:75em}table{border-collapse:collapse;"
            "font-size:13px}td,th{padding:2px 8px;border-bottom:1px solid #ddd;text-align:left}</style>"
            f"</head><body>{report.report_html(self, events_limit)}</body></html>\n"
        )
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(page, encoding="utf-8")
        except OSError as exc:
            raise ExportError(f"cannot write {path}: {exc.strerror or exc}") from exc
        return path


def _payload_column(df: pd.DataFrame) -> pd.Series:
    return df["payload"] if "payload" in df.columns else pd.Series(np.nan, index=range(len(df)), dtype="object")


def compare(
    a: Any,
    b: Any,
    *,
    labels: Sequence[str] | None = None,
    include_rejected: bool = False,
    signing_secret: str | None = None,
) -> Comparison:
    """Line up two captures event by event (see the module docstring for the rules).

    Args:
        a, b: deliveries DataFrames, captures, or paths to a journal or HTTP log.
        labels: names for the two sides (default: their ``source``, e.g.
            ``("socket", "http")``, else ``("a", "b")``); used in column names.
        include_rejected: also compare requests whose signature was invalid,
            stale or missing.
        signing_secret: for HTTP logs given as paths.

    Next: display the result, or read ``.summary``, ``.timeline``, ``.by_type``,
    ``.only_a``, ``.only_b``, ``.latency``; ``.to_csv()`` / ``.to_html()``;
    ``slacklab.explore(cmp)``.
    """
    frame_a, found_a, conns_a = tables.frame(a, signing_secret)
    frame_b, found_b, conns_b = tables.frame(b, signing_secret)
    chosen = tables.labels_for(labels, (found_a, found_b))
    result = Comparison(frame_a, frame_b, chosen, include_rejected, (conns_a, conns_b))
    result.sources = (a, b)
    log.debug(
        "compared %d and %d events: %d matched",
        len(result.events) - len(result.only_b),
        len(result.events) - len(result.only_a),
        len(result.matched),
    )
    return result
