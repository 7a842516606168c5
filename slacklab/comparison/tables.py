"""The tables behind :func:`slacklab.comparison.lineup.compare`: inputs, matching, and what differs (pandas, no I/O).

:class:`~slacklab.comparison.lineup.Comparison` calls these in order: :func:`frame` (a
DataFrame from a capture, a DataFrame or a path), :func:`side` (one side split
into the events compared and what was left out), :func:`lineup` (the pairs), then
the tables. Every time is a UTC datetime, every duration seconds as ``float64``,
every count ``int64``; :mod:`slacklab.comparison.report` formats them for people.

*Latency* runs from when an event happened to its first delivery the app
*accepted*: any Socket Mode delivery (the capture saw it), an HTTP request answered
2xx (or with no recorded status). An event the app never accepted (every answer
an error: the app was down) has none, and counts as ``not accepted``.

When an event *happened*: the inner ``event.event_ts`` (microseconds) when it is
within two seconds of ``event_time`` (whole seconds, as Slack sends it), else
``event_time``. Slack documents ``event_ts`` as the event's timestamp but not its
precision, so with real captures the fallback may be what you get: latencies then
carry up to a second of rounding. slacklab's simulator stamps both from one clock.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from slacklab.http.signing import INVALID, MISSING, STALE
from slacklab.loader import load
from slacklab.schema import COLUMNS, DATETIME_COLUMNS
from slacklab.table import events_view

__all__ = ["COMPARED_KINDS", "Side", "frame", "labels_for", "lineup", "side"]

COMPARED_KINDS: dict[str, str] = {"events_api": "event_id", "slash_commands": "trigger_id", "interactive": "trigger_id"}
"""Kinds that are lined up, and the id each is matched on first."""
REJECTED = frozenset({INVALID, STALE, MISSING})
_CONTENT = ("event_type", "channel", "ts", "user")
CARRIED = ("kind", "event_type", "event_id", "trigger_id", "channel", "user", "ts", "text")
PERCENTILES = (0.5, 0.9, 0.99)
_EVENT_TS = re.compile(r'"event_ts"\s*:\s*"(\d{9,10}\.\d{1,6})"')
_TS_SLACK = 2.0  # seconds event_ts may sit from event_time and still be trusted as the precise time


# ------------------------------------------------------------------ inputs


def frame(data: Any, secret: str | None) -> tuple[pd.DataFrame, str | None, pd.DataFrame | None]:
    """A deliveries DataFrame, a default label and the connections table (Socket Mode captures)."""
    if isinstance(data, str | Path):
        data = load(data, secret)
    connections = None
    if isinstance(data, pd.DataFrame):
        df = data
    elif callable(getattr(data, "deliveries", None)):
        df = data.deliveries()
        if callable(getattr(data, "connections", None)):
            connections = data.connections()
        if isinstance(getattr(data, "source", None), str) and not len(df):
            return normalised(df), data.source, connections  # an empty capture still knows what it is
    else:
        raise TypeError(f"compare() takes DataFrames, captures or paths, not {type(data).__name__}")
    missing = {"kind", "event_key", "received_at"} - set(df.columns)
    if missing:
        raise ValueError(f"not a deliveries DataFrame: no column(s) {sorted(missing)}")
    sources = df["source"].dropna().unique() if "source" in df.columns else []
    return normalised(df), (str(sources[0]) if len(sources) == 1 else None), connections


def normalised(df: pd.DataFrame) -> pd.DataFrame:
    """Every schema column present, times as UTC datetimes (rows straight from ``make_row`` work too)."""
    out = df.reindex(columns=list(dict.fromkeys([*COLUMNS, *df.columns])))
    for col in DATETIME_COLUMNS:
        if not isinstance(out[col].dtype, pd.DatetimeTZDtype):
            numeric = pd.to_numeric(out[col], errors="coerce").astype("float64")
            out[col] = pd.to_datetime(numeric, unit="s", utc=True)
    out["retry_attempt"] = pd.to_numeric(out["retry_attempt"], errors="coerce").astype("Int64")
    return out


def labels_for(given: Sequence[str] | None, found: tuple[str | None, str | None]) -> tuple[str, str]:
    """Two distinct, identifier-like side names: ``given``, else the sources, else ``a``/``b``."""
    if given is not None:
        if len(given) != 2:
            raise ValueError("labels must be two names, one per side")
        raw = (str(given[0]), str(given[1]))
    elif found[0] and found[1] and found[0] != found[1]:
        raw = (found[0], found[1])
    else:
        raw = ("a", "b")
    clean = tuple(re.sub(r"\W+", "_", label).strip("_") or s for label, s in zip(raw, "ab", strict=True))
    if clean[0] == clean[1]:
        clean = (f"{clean[0]}_a", f"{clean[1]}_b")
    return clean[0], clean[1]


def happened(ev: pd.DataFrame) -> pd.Series:
    """When each event happened, as precisely as its payload says (see the module docstring)."""
    stamp = ev["event_ts"] if "event_ts" in ev.columns else pd.Series(None, index=ev.index, dtype="object")
    if stamp.isna().all() and "payload" in ev.columns and len(ev):
        stamp = ev["payload"].astype("string").str.extract(_EVENT_TS, expand=False)
    precise = pd.to_datetime(pd.to_numeric(stamp, errors="coerce"), unit="s", utc=True)
    coarse = ev["event_time"]
    near = (precise - coarse).dt.total_seconds().abs() <= _TS_SLACK
    return precise.where(near & (ev["kind"] == "events_api"), coarse)


@dataclass(frozen=True)
class Side:
    """One side, split: the events compared, their deliveries, plus what was left out and why."""

    events: pd.DataFrame  # one row per event (events_view) + retries, happened_at, accepted_at, latency_s
    deliveries: pd.DataFrame  # every delivery compared, in arrival order
    everything: pd.DataFrame  # every row, compared or not (signatures, other kinds)
    other: int  # HTTP-only kinds and unknown kinds
    rejected: int
    connections: pd.DataFrame | None


def side(df: pd.DataFrame, include_rejected: bool, connections: pd.DataFrame | None = None) -> Side:
    """Split one side: the comparable deliveries (kinds in :data:`COMPARED_KINDS`, signature not refused)."""
    comparable = df["kind"].isin(list(COMPARED_KINDS))
    rejected = (
        df["signature"].isin(list(REJECTED))
        if "signature" in df.columns and not include_rejected
        else pd.Series(False, index=df.index)
    )
    used = df[comparable & ~rejected].sort_values("received_at", kind="stable")
    ev = events_view(used)
    retried = (used["retry_attempt"].fillna(0) > 0).groupby(used["event_key"]).sum()
    own = (ev["retry_attempt"].fillna(0) > 0).astype("int64")
    ev["retries"] = ev["event_key"].map(retried).fillna(own).astype("int64")
    ev["happened_at"] = happened(ev)
    status = pd.to_numeric(used["http_status"], errors="coerce")
    accepted = used[status.isna() | status.between(200, 299)]
    first_ok = accepted.groupby("event_key")["received_at"].min()
    ev["accepted_at"] = pd.Series(
        pd.DatetimeIndex(first_ok.reindex(ev["event_key"]).to_numpy(), tz="UTC") if len(ev) else [],
        index=ev.index,
        dtype="datetime64[ns, UTC]",
    )
    ev["latency_s"] = (ev["accepted_at"] - ev["happened_at"]).dt.total_seconds()
    return Side(
        ev.reset_index(drop=True),
        used.reset_index(drop=True),
        df,
        int((~comparable).sum()),
        int((comparable & rejected).sum()),
        connections,
    )


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


def lineup(a: pd.DataFrame, b: pd.DataFrame, labels: tuple[str, str]) -> pd.DataFrame:
    """One row per event of either side: status, key that matched, per-side deliveries, times, payloads.

    ``{label}_order`` is the event's arrival rank on that side among the matched
    events, so ``order_shift`` (B's rank minus A's) is non-zero for events that
    arrived in a different order on the two sides.
    """
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
    # Series on the same RangeIndex, not numpy arrays: assigning those would re-infer every string column
    for col in CARRIED:
        mine, theirs = ra[col], rb[col]
        if mine.dtype != theirs.dtype:
            mine, theirs = mine.astype("object"), theirs.astype("object")
        out[col] = mine.where(in_a, theirs)
    for label, rows in ((la, ra), (lb, rb)):
        out[f"{label}_event_id"] = rows["event_id"]
        out[f"{label}_deliveries"] = rows["deliveries"].fillna(0).astype("int64")
        out[f"{label}_retries"] = rows["retries"].fillna(0).astype("int64")
        out[f"{label}_received_at"] = pd.to_datetime(rows["first_received_at"], utc=True)
        out[f"{label}_latency_s"] = rows["latency_s"].astype("float64")
        out[f"{label}_accepted"] = rows["accepted_at"].notna()
        out[f"{label}_event_key"] = rows["event_key"]
        out[f"{label}_payload"] = rows["payload"]
    happened_a = pd.to_datetime(ra["happened_at"], utc=True)
    out["happened_at"] = happened_a.where(happened_a.notna(), pd.to_datetime(rb["happened_at"], utc=True))
    out["gap_s"] = (out[f"{lb}_received_at"] - out[f"{la}_received_at"]).dt.total_seconds()
    matched = out["status"] == "matched"
    for label in labels:
        rank = out[f"{label}_received_at"].where(matched).rank(method="first")
        out[f"{label}_order"] = rank.astype("Int64")
    out["order_shift"] = (out[f"{lb}_order"] - out[f"{la}_order"]).astype("Int64")
    first = out[f"{la}_received_at"].where(out[f"{la}_received_at"].notna(), out[f"{lb}_received_at"])
    return out.assign(_first=first).sort_values("_first", kind="stable").drop(columns="_first").reset_index(drop=True)


# ----------------------------------------------------------------- tables


def by_type(events: pd.DataFrame, labels: tuple[str, str]) -> pd.DataFrame:
    """Per event type: events per side, matched, only-one-side, deliveries, retries, duplicates (all ``int64``)."""
    la, lb = labels
    types = events["event_type"].astype("object").fillna("(none)")
    status = events["status"]
    counts = pd.DataFrame(
        {
            f"{la}_events": (events[f"{la}_deliveries"] > 0).astype("int64"),
            f"{lb}_events": (events[f"{lb}_deliveries"] > 0).astype("int64"),
            "matched": (status == "matched").astype("int64"),
            f"only_{la}": (status == f"only_{la}").astype("int64"),
            f"only_{lb}": (status == f"only_{lb}").astype("int64"),
            f"{la}_deliveries": events[f"{la}_deliveries"],
            f"{lb}_deliveries": events[f"{lb}_deliveries"],
            f"{la}_retries": events[f"{la}_retries"],
            f"{lb}_retries": events[f"{lb}_retries"],
        }
    )
    out = counts.groupby(types).sum().astype("int64")
    for label in labels:
        out[f"{label}_duplicates"] = out[f"{label}_deliveries"] - out[f"{label}_events"]
    out.index.name = "event_type"
    if out.empty:
        return out
    total = out[f"{la}_events"] + out[f"{lb}_events"]
    return out.loc[total.sort_index().sort_values(ascending=False, kind="stable").index]


def latency(events: pd.DataFrame, labels: tuple[str, str]) -> pd.DataFrame:
    """Per side and event type (``(all)`` first): events with a latency, p50/p90/p99/max seconds."""
    rows = []
    types = events["event_type"].astype("object").fillna("(none)")
    for label in labels:
        seconds = events[f"{label}_latency_s"]
        groups = [("(all)", seconds)] + [(t, seconds[types == t]) for t in sorted(types[seconds.notna()].unique())]
        for event_type, values in groups:
            values = values.dropna()
            row: dict[str, Any] = {"side": label, "event_type": event_type, "events": len(values)}
            for q in PERCENTILES:
                row[f"p{round(q * 100)}_s"] = float(values.quantile(q)) if len(values) else np.nan
            row["max_s"] = float(values.max()) if len(values) else np.nan
            rows.append(row)
    columns = ["side", "event_type", "events", *(f"p{round(q * 100)}_s" for q in PERCENTILES), "max_s"]
    return pd.DataFrame(rows, columns=columns).astype({"events": "int64"})
