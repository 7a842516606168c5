"""Line up two captures — typically Socket Mode and HTTP — event by event: :func:`compare`.

``compare(a, b)`` takes DataFrames in the delivery schema, captures, or paths
(a Socket Mode journal or any HTTP log, loaded with
:func:`slacklab.load`) and returns a :class:`Comparison`.

How events are matched, in order (each pair records which key matched it):

1. ``event_id`` for events (``events_api``), ``trigger_id`` for slash commands
   and interactivity;
2. for events still unmatched, a **content key**: event type, channel, ``ts``
   and user. The same message reaching two apps (one per delivery mode) can
   carry different ``event_id``\\s, and one app receives its events over HTTP
   *or* Socket Mode, never both at once — so a real comparison is two apps, or
   one app at two times (see docs/slack-protocol.md). Content matches say so
   (``matched_on == "content"``).

What is compared: deliveries of kind ``events_api``, ``slash_commands`` and
``interactive``. HTTP-only requests (``url_verification``, ``ssl_check``,
``app_rate_limited``) are counted apart, and so are requests whose signature
was ``invalid``, ``stale`` or ``missing`` (a receiver with the signing secret
refuses those; they are not Slack's deliveries) unless ``include_rejected``.

Definitions: *retries* are deliveries with ``retry_attempt`` > 0; *duplicates*
are extra arrivals of an event already seen (retries included, plus copies
with no retry marker); *latency* is ``received_at − event_time`` of an event's
first delivery — Slack's ``event_time`` is whole seconds, so it is coarse, and
slash commands and interactivity have none.

Next: ``cmp`` in a notebook (tables and chart), ``cmp.by_type``,
``cmp.only_a`` / ``cmp.only_b``, ``cmp.to_csv("report.csv")``,
``cmp.to_html("report.html")``.
"""

from __future__ import annotations

import base64
import html
import io
import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from slacklab.errors import ExportError
from slacklab.export import safe_frame, to_csv
from slacklab.http.signing import INVALID, MISSING, STALE
from slacklab.loader import load
from slacklab.schema import COLUMNS, DATETIME_COLUMNS
from slacklab.table import events_view

__all__ = ["COMPARED_KINDS", "Comparison", "compare"]

log = logging.getLogger("slacklab.compare")

COMPARED_KINDS: dict[str, str] = {"events_api": "event_id", "slash_commands": "trigger_id", "interactive": "trigger_id"}
"""Kinds that are lined up, and the id each is matched on first."""
_REJECTED = frozenset({INVALID, STALE, MISSING})
_CONTENT = ("event_type", "channel", "ts", "user")
_CARRIED = ("kind", "event_type", "event_id", "trigger_id", "channel", "user", "ts", "text")
_ENVELOPE_NOTE = (
    "accepts_response_payload, retry_attempt and retry_reason sit in the Socket Mode envelope, outside the "
    "payload column; HTTP has no envelope and carries retries in X-Slack-Retry-* headers. The schema keeps "
    "retry_attempt/retry_reason for both modes but not accepts_response_payload, so it is not measured here."
)
_PERCENTILES = (0.5, 0.9, 0.99)


# ------------------------------------------------------------------ inputs


def _frame(data: Any, secret: str | None) -> tuple[pd.DataFrame, str | None]:
    """A deliveries DataFrame and a default label, from a DataFrame, a capture or a path."""
    if isinstance(data, str | Path):
        data = load(data, secret)
    if isinstance(data, pd.DataFrame):
        df = data
    elif callable(getattr(data, "deliveries", None)):
        df = data.deliveries()
        if isinstance(getattr(data, "source", None), str) and not len(df):
            return _normalised(df), data.source  # an empty capture still knows what it is
    else:
        raise TypeError(f"compare() takes DataFrames, captures or paths, not {type(data).__name__}")
    missing = {"kind", "event_key", "received_at"} - set(df.columns)
    if missing:
        raise ValueError(f"not a deliveries DataFrame: no column(s) {sorted(missing)}")
    sources = df["source"].dropna().unique() if "source" in df.columns else []
    return _normalised(df), (str(sources[0]) if len(sources) == 1 else None)


def _normalised(df: pd.DataFrame) -> pd.DataFrame:
    """Every schema column present, times as UTC datetimes (rows straight from ``make_row`` work too)."""
    out = df.reindex(columns=list(dict.fromkeys([*COLUMNS, *df.columns])))
    for col in DATETIME_COLUMNS:
        if not isinstance(out[col].dtype, pd.DatetimeTZDtype):
            numeric = pd.to_numeric(out[col], errors="coerce").astype("float64")
            out[col] = pd.to_datetime(numeric, unit="s", utc=True)
    out["retry_attempt"] = pd.to_numeric(out["retry_attempt"], errors="coerce").astype("Int64")
    return out


def _labels(given: Sequence[str] | None, found: tuple[str | None, str | None]) -> tuple[str, str]:
    if given is not None:
        if len(given) != 2:
            raise ValueError("labels must be two names, one per side")
        raw = (str(given[0]), str(given[1]))
    elif found[0] and found[1] and found[0] != found[1]:
        raw = (found[0], found[1])
    else:
        raw = ("a", "b")
    clean = tuple(re.sub(r"\W+", "_", label).strip("_") or side for label, side in zip(raw, "ab", strict=True))
    if clean[0] == clean[1]:
        clean = (f"{clean[0]}_a", f"{clean[1]}_b")
    return clean[0], clean[1]


@dataclass(frozen=True)
class _Side:
    """One side, split: the events compared, plus what was left out and why."""

    events: pd.DataFrame  # one row per event (events_view) + retries, latency_s
    deliveries: int
    other: int  # HTTP-only kinds and unknown kinds
    rejected: int


def _side(df: pd.DataFrame, include_rejected: bool) -> _Side:
    comparable = df["kind"].isin(list(COMPARED_KINDS))
    rejected = (
        df["signature"].isin(list(_REJECTED))
        if "signature" in df.columns and not include_rejected
        else pd.Series(False, index=df.index)
    )
    used = df[comparable & ~rejected]
    ev = events_view(used)
    retried = (used["retry_attempt"].fillna(0) > 0).groupby(used["event_key"]).sum()
    own = (ev["retry_attempt"].fillna(0) > 0).astype("int64")
    ev["retries"] = ev["event_key"].map(retried).fillna(own).astype("int64")
    ev["latency_s"] = (ev["first_received_at"] - ev["event_time"]).dt.total_seconds()
    return _Side(ev.reset_index(drop=True), len(used), int((~comparable).sum()), int((comparable & rejected).sum()))


# ---------------------------------------------------------------- matching


def _pair(a: pd.DataFrame, b: pd.DataFrame, key_a: pd.Series, key_b: pd.Series) -> pd.DataFrame:
    """Positional pairs ``ia``/``ib`` of rows with equal keys (the n-th with the n-th when repeated)."""
    left = pd.DataFrame({"key": key_a, "n": key_a.groupby(key_a).cumcount(), "ia": a.index})[key_a.notna()]
    right = pd.DataFrame({"key": key_b, "n": key_b.groupby(key_b).cumcount(), "ib": b.index})[key_b.notna()]
    return left.merge(right, on=["key", "n"])[["ia", "ib"]]


def _match_id(ev: pd.DataFrame) -> pd.Series:
    ids = ev["event_id"].where(ev["kind"] == "events_api", ev["trigger_id"])
    return ids.astype("object").where(ids.notna(), None)


def _content_key(ev: pd.DataFrame) -> pd.Series:
    parts = ev[list(_CONTENT)].astype("object").where(ev[list(_CONTENT)].notna(), "")
    key = pd.Series(
        ["\x1f".join(map(str, row)) for row in parts.itertuples(index=False)], index=ev.index, dtype="object"
    )
    usable = (ev["kind"] == "events_api") & ev["event_type"].notna() & ev["ts"].notna()
    return key.where(usable, None)


def _match(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    """All rows of both sides as pairs: ``ia``, ``ib`` (-1 when absent) and ``matched_on``."""
    by_id = _pair(a, b, _match_id(a), _match_id(b))
    by_id["matched_on"] = np.where(a.loc[by_id["ia"], "kind"].to_numpy() == "events_api", "event_id", "trigger_id")
    rest_a, rest_b = a.drop(index=by_id["ia"]), b.drop(index=by_id["ib"])
    by_content = _pair(rest_a, rest_b, _content_key(rest_a), _content_key(rest_b))
    by_content["matched_on"] = "content"
    matched = pd.concat([by_id, by_content], ignore_index=True)
    only_a = pd.DataFrame({"ia": a.index.difference(matched["ia"]), "ib": -1, "matched_on": None})
    only_b = pd.DataFrame({"ia": -1, "ib": b.index.difference(matched["ib"]), "matched_on": None})
    return pd.concat([matched, only_a, only_b], ignore_index=True).astype({"ia": "int64", "ib": "int64"})


def _lineup(a: pd.DataFrame, b: pd.DataFrame, labels: tuple[str, str]) -> pd.DataFrame:
    la, lb = labels
    pairs = _match(a, b)
    ra = a.reindex(pairs["ia"].to_numpy()).reset_index(drop=True)
    rb = b.reindex(pairs["ib"].to_numpy()).reset_index(drop=True)
    in_a, in_b = pairs["ia"].to_numpy() >= 0, pairs["ib"].to_numpy() >= 0
    out = pd.DataFrame(
        {
            "status": np.select([in_a & in_b, in_a], ["matched", f"only_{la}"], f"only_{lb}"),
            "matched_on": pairs["matched_on"].to_numpy(),
        }
    )
    for col in _CARRIED:
        out[col] = ra[col].astype("object").where(in_a, rb[col].astype("object")).to_numpy()
    for label, side in ((la, ra), (lb, rb)):
        out[f"{label}_event_id"] = side["event_id"].to_numpy()
        out[f"{label}_deliveries"] = side["deliveries"].fillna(0).astype("int64").to_numpy()
        out[f"{label}_retries"] = side["retries"].fillna(0).astype("int64").to_numpy()
        out[f"{label}_received_at"] = pd.to_datetime(side["first_received_at"], utc=True)
        out[f"{label}_latency_s"] = side["latency_s"].astype("float64").to_numpy()
        out[f"{label}_payload"] = side["payload"].to_numpy()
    out["gap_s"] = (out[f"{lb}_received_at"] - out[f"{la}_received_at"]).dt.total_seconds()
    first = out[f"{la}_received_at"].where(out[f"{la}_received_at"].notna(), out[f"{lb}_received_at"])
    return out.assign(_first=first).sort_values("_first", kind="stable").drop(columns="_first").reset_index(drop=True)


# ----------------------------------------------------------------- tables


def _by_type(lineup: pd.DataFrame, labels: tuple[str, str]) -> pd.DataFrame:
    la, lb = labels
    types = lineup["event_type"].astype("object").fillna("(none)")
    status = lineup["status"]
    frame = pd.DataFrame(
        {
            f"{la}_events": (lineup[f"{la}_deliveries"] > 0).astype("int64"),
            f"{lb}_events": (lineup[f"{lb}_deliveries"] > 0).astype("int64"),
            "matched": (status == "matched").astype("int64"),
            f"only_{la}": (status == f"only_{la}").astype("int64"),
            f"only_{lb}": (status == f"only_{lb}").astype("int64"),
            f"{la}_deliveries": lineup[f"{la}_deliveries"],
            f"{lb}_deliveries": lineup[f"{lb}_deliveries"],
            f"{la}_retries": lineup[f"{la}_retries"],
            f"{lb}_retries": lineup[f"{lb}_retries"],
        }
    )
    out = frame.groupby(types).sum().astype("int64")
    for label in labels:
        out[f"{label}_duplicates"] = out[f"{label}_deliveries"] - out[f"{label}_events"]
    out.index.name = "event_type"
    if out.empty:
        return out
    total = out[f"{la}_events"] + out[f"{lb}_events"]
    return out.loc[total.sort_index().sort_values(ascending=False, kind="stable").index]


def _latency(lineup: pd.DataFrame, labels: tuple[str, str]) -> pd.DataFrame:
    rows = []
    types = lineup["event_type"].astype("object").fillna("(none)")
    for label in labels:
        seconds = lineup[f"{label}_latency_s"]
        groups = [("(all)", seconds)] + [(t, seconds[types == t]) for t in sorted(types[seconds.notna()].unique())]
        for event_type, values in groups:
            values = values.dropna()
            row: dict[str, Any] = {"side": label, "event_type": event_type, "events": len(values)}
            for q in _PERCENTILES:
                row[f"p{round(q * 100)}_s"] = float(values.quantile(q)) if len(values) else np.nan
            row["max_s"] = float(values.max()) if len(values) else np.nan
            rows.append(row)
    columns = ["side", "event_type", "events", *(f"p{round(q * 100)}_s" for q in _PERCENTILES), "max_s"]
    return pd.DataFrame(rows, columns=columns)


def _keys(payload: Any) -> set[str] | None:
    if isinstance(payload, dict):
        return set(payload)
    if not isinstance(payload, str):
        return None
    try:
        data = json.loads(payload)
    except ValueError:
        return None
    return set(data) if isinstance(data, dict) else None


def _fields(lineup: pd.DataFrame, labels: tuple[str, str]) -> pd.DataFrame:
    """Top-level payload keys over matched pairs: how many pairs carry each, per side."""
    la, lb = labels
    matched = lineup[lineup["status"] == "matched"]
    counts: dict[str, list[int]] = {}
    for pa, pb in zip(matched[f"{la}_payload"], matched[f"{lb}_payload"], strict=True):
        ka, kb = _keys(pa) or set(), _keys(pb) or set()
        for key in ka | kb:
            slot = counts.setdefault(key, [0, 0])
            slot[0] += key in ka
            slot[1] += key in kb
    pairs = len(matched)
    rows = []
    for key, (na, nb) in sorted(counts.items()):
        where = "both" if na and nb else (f"only {la}" if na else f"only {lb}")
        rows.append({"field": key, f"{la}_pairs": na, f"{lb}_pairs": nb, "matched_pairs": pairs, "present": where})
    df = pd.DataFrame(rows, columns=["field", f"{la}_pairs", f"{lb}_pairs", "matched_pairs", "present"])
    order = df["present"].map(lambda p: 0 if p != "both" else 1) if len(df) else df["present"]
    return df.assign(_o=order).sort_values(["_o", "field"], kind="stable").drop(columns="_o").reset_index(drop=True)


def _summary(
    lineup: pd.DataFrame, sides: tuple[_Side, _Side], labels: tuple[str, str], latency: pd.DataFrame
) -> pd.DataFrame:
    rows: dict[str, list[Any]] = {}
    matched = lineup[lineup["status"] == "matched"]
    for i, (label, side) in enumerate(zip(labels, sides, strict=True)):
        present = lineup[f"{label}_deliveries"] > 0
        all_rows = latency[(latency["side"] == label) & (latency["event_type"] == "(all)")].iloc[0]
        values = {
            "deliveries compared": side.deliveries,
            "events": int(present.sum()),
            "matched": len(matched),
            "only here": int((lineup["status"] == f"only_{label}").sum()),
            "retries": int(lineup[f"{label}_retries"].sum()),
            "duplicates": int(lineup[f"{label}_deliveries"].sum() - present.sum()),
            "other deliveries (not compared)": side.other,
            "rejected signatures (not compared)": side.rejected,
            "latency p50 (s)": all_rows["p50_s"],
            "latency p90 (s)": all_rows["p90_s"],
            "latency p99 (s)": all_rows["p99_s"],
        }
        for on in ("event_id", "trigger_id", "content"):
            values[f"matched on {on}"] = int((matched["matched_on"] == on).sum())
        for metric, value in values.items():
            rows.setdefault(metric, [None, None])[i] = value
    out = pd.DataFrame.from_dict(rows, orient="index", columns=list(labels), dtype=object)
    out.index.name = "metric"
    return out


# ------------------------------------------------------------------ result


class Comparison:
    """The result of :func:`compare`: tables as DataFrames, a chart, and reports.

    Attributes (``A``/``B`` stand for the two labels, e.g. ``socket``/``http``):
        labels: the two side names, in argument order.
        summary: metric × side: deliveries, events, matched, only here, retries,
            duplicates, what was left out, latency percentiles, matches per key.
        by_type: per event type: ``A_events``, ``B_events``, ``matched``,
            ``only_A``, ``only_B``, deliveries, retries and duplicates per side.
        events: the line-up, one row per event: ``status`` (``matched``,
            ``only_A``, ``only_B``), ``matched_on`` (``event_id``, ``trigger_id``,
            ``content``), ids and content, per-side deliveries, retries, first
            receive time and latency, and ``gap_s`` (B's first arrival minus A's).
        matched, only_a, only_b: slices of :attr:`events`.
        latency: per side and event type (``(all)`` first): p50/p90/p99/max seconds.
        fields: top-level payload keys over matched pairs and where they appear.
        notes: plain-words caveats about this comparison.
    """

    def __init__(self, a: pd.DataFrame, b: pd.DataFrame, labels: tuple[str, str], include_rejected: bool) -> None:
        self.labels = labels
        sides = (_side(a, include_rejected), _side(b, include_rejected))
        lineup = _lineup(sides[0].events, sides[1].events, labels)
        la, lb = labels
        self.latency = _latency(lineup, labels)
        self.fields = _fields(lineup, labels)
        self.by_type = _by_type(lineup, labels)
        self.summary = _summary(lineup, sides, labels, self.latency)
        self.events = lineup.drop(columns=[f"{la}_payload", f"{lb}_payload"])
        self.matched = self.events[self.events["status"] == "matched"].reset_index(drop=True)
        self.only_a = self.events[self.events["status"] == f"only_{la}"].reset_index(drop=True)
        self.only_b = self.events[self.events["status"] == f"only_{lb}"].reset_index(drop=True)
        self.notes = self._notes(sides)

    def _notes(self, sides: tuple[_Side, _Side]) -> list[str]:
        notes = []
        content = int((self.matched["matched_on"] == "content").sum())
        if content:
            notes.append(
                f"{content} event(s) matched on content (type, channel, ts, user), not on an id: "
                "the two sides saw them under different event_ids (two apps?)."
            )
        for label, side in zip(self.labels, sides, strict=True):
            if side.rejected:
                notes.append(
                    f"{side.rejected} {label} deliveries with an invalid, stale or missing signature "
                    "were left out (include_rejected=True keeps them)."
                )
            if side.other:
                notes.append(
                    f"{side.other} {label} deliveries of other kinds (url_verification, ssl_check, "
                    "app_rate_limited…) were counted but not compared."
                )
        p50 = self.summary.loc["latency p50 (s)"].astype("float64")
        if (p50.abs() > 3600).any():
            notes.append(
                "event_time is more than an hour from received_at: replayed or simulated payloads with "
                "fixed times? Latency is not meaningful here; compare arrival gaps (gap_s) instead."
            )
        notes.append("Latency uses Slack's event_time, in whole seconds: sub-second differences are noise.")
        notes.append(_ENVELOPE_NOTE)
        return notes

    # ----------------------------------------------------------- display

    def plot(self, ax: Axes | None = None, *, limit: int = 12) -> Axes:
        """Events per type on each side, and how many matched (horizontal bars); returns the Axes.

        Without ``ax`` a new matplotlib ``Figure`` is made (no pyplot state);
        save it with ``ax.figure.savefig(...)``. In a notebook, displaying the
        comparison itself shows this chart with the tables.
        """
        la, lb = self.labels
        if ax is None:
            ax = Figure(figsize=(7.0, 3.4), layout="constrained").add_subplot()
        ax.set_title(f"events per type: {la} vs {lb}")
        rows = self.by_type.iloc[:limit].iloc[::-1]
        if rows.empty:
            ax.text(0.5, 0.5, "nothing to compare", transform=ax.transAxes, ha="center", va="center")
            return ax
        y = np.arange(len(rows))
        height = 0.27
        for offset, column, name in (
            (height, f"{la}_events", la),
            (0.0, f"{lb}_events", lb),
            (-height, "matched", "matched"),
        ):
            bars = ax.barh(y + offset, rows[column].to_numpy(), height=height, label=name)
            ax.bar_label(bars, padding=2, fontsize="x-small")
        ax.set_yticks(y, [str(t) for t in rows.index])
        ax.set_xlabel("events")
        ax.margins(x=0.12)
        ax.legend(fontsize="small", loc="best")
        return ax

    def _chart_png(self) -> str:
        ax = self.plot()
        buffer = io.BytesIO()
        ax.figure.savefig(buffer, format="png", dpi=80)
        return base64.b64encode(buffer.getvalue()).decode("ascii")

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
        p50 = s.loc["latency p50 (s)"]
        if p50.notna().any():
            text += f"\n  latency p50: {la} {p50[la]:.3g} s, {lb} {p50[lb]:.3g} s"
        top = self.by_type.iloc[:6]
        if len(top):
            text += "\n  by type: " + ", ".join(
                f"{t} {r[f'{la}_events']}/{r[f'{lb}_events']}" for t, r in top.iterrows()
            )
        return text

    def _html_tables(self, events_limit: int | None) -> str:
        def table(df: pd.DataFrame, index: bool = True) -> str:
            shown = df.reset_index() if index else df
            return safe_frame(shown).to_html(index=False, escape=True, na_rep="", border=0)

        la, lb = self.labels
        notes = "".join(f"<li>{html.escape(n)}</li>" for n in self.notes)
        parts = [
            f"<h3>slacklab comparison: {html.escape(la)} vs {html.escape(lb)}</h3>",
            f"<img alt='events per type' src='data:image/png;base64,{self._chart_png()}'/>",
            "<h4>Summary</h4>",
            table(self.summary),
            "<h4>By event type</h4>",
            table(self.by_type),
            f"<h4>Only in {html.escape(la)}</h4>" if len(self.only_a) else "",
            table(self.only_a.head(20), index=False) if len(self.only_a) else "",
            f"<h4>Only in {html.escape(lb)}</h4>" if len(self.only_b) else "",
            table(self.only_b.head(20), index=False) if len(self.only_b) else "",
            "<h4>Latency</h4>",
            table(self.latency, index=False),
            "<h4>Payload fields</h4>",
            table(self.fields, index=False),
        ]
        if events_limit is not None:
            shown = self.events.head(events_limit)
            cut = f" (first {events_limit} of {len(self.events)})" if len(self.events) > events_limit else ""
            parts += [f"<h4>Events{cut}</h4>", table(shown, index=False)]
        parts.append(f"<h4>Notes</h4><ul>{notes}</ul>")
        return "\n".join(p for p in parts if p)

    def _repr_html_(self) -> str:
        return f"<div class='slacklab-comparison'>{self._html_tables(None)}</div>"

    # ----------------------------------------------------------- export

    def to_csv(self, path: str | Path, *, table: str = "events", overwrite: bool = True) -> Path:
        """Write one table as safe CSV (masked, formula-neutralised; see :mod:`slacklab.export`).

        ``table``: ``events`` (the line-up, default), ``by_type``, ``summary``,
        ``latency``, ``fields``, ``matched``, ``only_a`` or ``only_b``.
        """
        tables = {
            "events": self.events,
            "by_type": self.by_type.reset_index(),
            "summary": self.summary.reset_index(),
            "latency": self.latency,
            "fields": self.fields,
            "matched": self.matched,
            "only_a": self.only_a,
            "only_b": self.only_b,
        }
        if table not in tables:
            raise ValueError(f"table must be one of {sorted(tables)}, not {table!r}")
        return to_csv(tables[table], path, overwrite=overwrite)

    def to_html(self, path: str | Path, *, events_limit: int = 5000, overwrite: bool = True) -> Path:
        """Write a self-contained HTML report: chart, summary, per-type, latency, fields, the line-up."""
        path = Path(path)
        if path.exists() and not overwrite:
            raise ExportError(f"{path} already exists; pass overwrite=True (or --force) to replace it")
        la, lb = (html.escape(x) for x in self.labels)
        page = (
            f"<!doctype html><html><head><meta charset='utf-8'><title>slacklab: {la} vs {lb}</title>"
            "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;font-size:13px}"
            "td,th{padding:2px 8px;border-bottom:1px solid #ddd;text-align:left}</style></head><body>"
            f"{self._html_tables(events_limit)}</body></html>\n"
        )
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(page, encoding="utf-8")
        except OSError as exc:
            raise ExportError(f"cannot write {path}: {exc.strerror or exc}") from exc
        return path


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

    Next: display the result, or read ``.summary``, ``.by_type``, ``.only_a``,
    ``.only_b``, ``.latency``, ``.fields``; ``.to_csv()`` / ``.to_html()``.
    """
    frame_a, found_a = _frame(a, signing_secret)
    frame_b, found_b = _frame(b, signing_secret)
    chosen = _labels(labels, (found_a, found_b))
    result = Comparison(frame_a, frame_b, chosen, include_rejected)
    log.debug(
        "compared %d and %d events: %d matched",
        len(result.events) - len(result.only_b),
        len(result.events) - len(result.only_a),
        len(result.matched),
    )
    return result
