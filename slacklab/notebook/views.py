"""What the explore panel shows, as text: HTML pieces and the compact frame of ``panel.df``.

Pure functions of a capture's summary or a DataFrame (no widgets), so they are
tested directly: :func:`status_html`, :func:`rows_html`, :func:`counts_html`,
:func:`compact_frame`, :func:`nice_step`. Every cell is masked
(:func:`slacklab.redact.mask_text`) and HTML-escaped.
"""

from __future__ import annotations

import html
import math
from typing import Any

import pandas as pd

from slacklab.redact import mask_text

__all__ = [
    "COMPACT_COLUMNS",
    "SHOWN_COLUMNS",
    "cell",
    "compact_frame",
    "counts_html",
    "nice_step",
    "rows_html",
    "status_html",
]

SHOWN_COLUMNS = ("received_at", "source", "event_type", "channel", "user", "retry_attempt", "ack_ms", "text")
"""The columns of the panel's table of newest rows."""

COMPACT_COLUMNS = (
    "received_at",
    "source",
    "event_type",
    "channel",
    "user",
    "text",
    "retry_attempt",
    "ack_ms",
    "response_ms",
)
"""The columns of ``panel.df`` (``panel.full_df`` has every one, ids included: the index links the two).
No ids or subtypes here: with ``event_id`` and ``event_subtype`` the table ran past a notebook's width."""


def compact_frame(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with :data:`COMPACT_COLUMNS` only (those it has), times to the millisecond.

    Reading a capture in a notebook, 30+ columns with UUIDs wrap every row over
    several lines, and nanosecond timestamps hide the digits that matter. The
    rows and their index are those of ``df``; a column that is all empty
    (``response_ms`` in a Socket Mode capture) is left out.
    """
    columns = [c for c in COMPACT_COLUMNS if c in df.columns]
    out = df.loc[:, columns]
    keep = [c for c in columns if c in ("received_at", "event_type", "text") or out[c].notna().any()]
    out = out.loc[:, keep].copy() if keep != columns else out.copy()
    for name in out.columns:
        if isinstance(out[name].dtype, pd.DatetimeTZDtype):
            out[name] = out[name].dt.floor("ms").astype(pd.DatetimeTZDtype("ms", out[name].dt.tz))
    return out


def status_html(cap: Any, label: str) -> str:
    """The status line of a capture: state, size, rate, last ack, connections, the latest note."""
    summary = cap._summary() if hasattr(cap, "_summary") else {}
    state = str(getattr(cap, "state", "?"))
    colour = {"listening": "#2e7d32", "receiving": "#2e7d32", "failed": "#c62828"}.get(state, "#ef6c00")
    if state in ("stopped", "loaded", "idle"):
        colour = "#616161"
    parts = [f"<b style='color:{colour}'>● {html.escape(state)}</b>", html.escape(label)]
    parts.append(f"{len(cap):,} deliveries / {getattr(cap, 'n_events', 0):,} events")
    if getattr(cap, "running", False):
        parts.append(f"{cap.rate():.1f} deliveries/s")
    if summary.get("last_ack_ms") is not None:
        parts.append(f"last ack {summary['last_ack_ms']:.1f} ms")
    if summary.get("connections"):
        parts.append(f"{summary['open']} open / {summary['connections']} connections")
    if summary.get("problems"):
        parts.append(f"{summary['problems']} problems")
    text = " · ".join(parts)
    detail = summary.get("detail") or ""
    notes = summary.get("notes") or []
    if detail:
        text += f"<br><i>{html.escape(mask_text(str(detail)))}</i>"
    if notes:
        text += f"<br><span style='color:#ef6c00'>⚠ {html.escape(mask_text(str(notes[-1])))}</span>"
    return f"<div class='slacklab-status'>{text}</div>"


def cell(value: Any, width: int = 80) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    if isinstance(value, pd.Timestamp):
        text = value.strftime("%H:%M:%S.%f")[:-3]
    elif isinstance(value, float):
        text = _number(value)
    else:
        text = " ".join(str(value).split())
    text = mask_text(text)
    if len(text) > width:
        text = text[: width - 1] + "…"
    return html.escape(text)


def _number(value: float) -> str:
    """Two or three significant digits for small values (an ack of 0.04 ms is not ``0.0``), no exponent."""
    size = abs(value)
    if value.is_integer() and size < 1e15:
        return f"{value:,.0f}"
    if size < 0.01:
        return f"{value:.3f}"
    if size < 1:
        return f"{value:.2f}"
    if size < 100:
        return f"{value:.1f}"
    return f"{value:,.0f}"


TABLE_STYLE = "border-collapse:collapse;font-size:12px"


def rows_html(df: pd.DataFrame, max_rows: int, total: int | None = None) -> str:
    """The newest ``max_rows`` rows as an HTML table (escaped, masked, long text cut).

    ``df`` may hold only the newest rows of the ``total`` that match (``len(df)`` by default).
    """
    columns = [c for c in SHOWN_COLUMNS if c in df.columns]
    if df.empty:
        return "<i>no deliveries match</i>"
    tail = df.iloc[-max_rows:][columns].iloc[::-1]
    head = "".join(f"<th style='text-align:left;padding:0 6px'>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td style='padding:0 6px'>{cell(v)}</td>" for v in row) + "</tr>"
        for row in tail.itertuples(index=False, name=None)
    )
    matching = len(df) if total is None else total
    caption = f"newest {len(tail)} of {matching:,} matching rows (all of them in <code>panel.df</code>)"
    return (
        f"<div class='slacklab-rows'><small>{caption}</small>"
        f"<table style='{TABLE_STYLE}'><tr>{head}</tr>{body}</table></div>"
    )


def counts_html(counts: pd.DataFrame) -> str:
    """The counts table (:func:`slacklab.table.counts_by_type`), narrow enough to sit beside the chart."""
    if counts.empty:
        return "<div class='slacklab-counts'><i>no deliveries</i></div>"
    pad = "padding:0 4px"
    head = "".join(
        f"<th style='{pad};text-align:{a}'>{h}</th>"
        for h, a in (("event type", "left"), ("deliveries", "right"), ("events", "right"), ("retries", "right"))
    )
    body = "".join(
        f"<tr><td style='{pad}'>{cell(t, 24)}</td><td style='{pad}' align='right'>{r.deliveries:,}</td>"
        f"<td style='{pad}' align='right'>{r.events:,}</td><td style='{pad}' align='right'>{r.retries:,}</td></tr>"
        for t, r in counts.iterrows()
    )
    style = TABLE_STYLE.replace("font-size:12px", "font-size:11px")
    return f"<div class='slacklab-counts'><table style='{style}'><tr>{head}</tr>{body}</table></div>"


def nice_step(span: float) -> float:
    """A slider step that gives about 500 positions over ``span`` seconds (at least 1 ms)."""
    if span <= 0:
        return 0.1
    return max(0.001, 10.0 ** math.floor(math.log10(span / 500.0)))
