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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from slacklab.http.signing import INVALID, MISSING, STALE
from slacklab.loader import load
from slacklab.schema import COLUMNS, DATETIME_COLUMNS
from slacklab.table import EventGroups, event_groups, events_view, select_rows

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


def happened(ev: pd.DataFrame, payloads: Callable[[], pd.Series | None] | None = None) -> pd.Series:
    """When each event happened, as precisely as its payload says (see the module docstring).

    ``payloads``: gives the events' payloads, read only when there is no ``event_ts`` column to use.
    """
    stamp = ev["event_ts"] if "event_ts" in ev.columns else pd.Series(None, index=ev.index, dtype="object")
    if stamp.isna().all() and len(ev):
        texts = ev["payload"] if "payload" in ev.columns else payloads() if payloads is not None else None
        if texts is not None:
            found = pd.Series(texts.to_numpy(), index=ev.index).astype("string").str.extract(_EVENT_TS, expand=False)
            stamp = found
    precise = pd.to_datetime(pd.to_numeric(stamp, errors="coerce"), unit="s", utc=True)
    coarse = ev["event_time"]
    near = (precise - coarse).dt.total_seconds().abs() <= _TS_SLACK
    return precise.where(near & (ev["kind"] == "events_api"), coarse)


_USED = frozenset(
    {*CARRIED, "event_key", "received_at", "event_time", "event_ts", "retry_attempt", "retry_reason"}
    | {"http_status", "signature", "connection", "replayed", "source"}
)
"""The columns the comparison copies of a side's deliveries (the payload is read where it is)."""


def _arrival_order(df: pd.DataFrame, keep: np.ndarray) -> tuple[pd.DataFrame, np.ndarray]:
    """``df[keep]`` sorted by ``received_at`` (stable, missing times last), fresh RangeIndex; and its rows' positions.

    Rows usually arrive in order already; then a chunk-by-chunk selection
    (:func:`slacklab.table.select_rows`) avoids a position take, which would first join
    every Arrow-backed text column's chunks.
    """
    ns = df["received_at"].array.asi8[keep]
    missing = ns == np.iinfo("int64").min
    if not missing.any() and (len(ns) < 2 or bool((ns[1:] >= ns[:-1]).all())):
        return select_rows(df, keep), np.flatnonzero(keep)
    order = np.flatnonzero(keep)[np.lexsort((ns, missing))]  # by time, missing last; stable
    return df.take(order).reset_index(drop=True), order


@dataclass(frozen=True)
class Side:
    """One side, split: the events compared, their deliveries, plus what was left out and why."""

    events: pd.DataFrame  # one row per event (events_view) + retries, happened_at, accepted_at, latency_s
    deliveries: pd.DataFrame  # every delivery compared, in arrival order (no payload column)
    everything: pd.DataFrame  # every row, compared or not (signatures, other kinds)
    other: int  # HTTP-only kinds and unknown kinds
    rejected: int
    connections: pd.DataFrame | None
    payload_rows: np.ndarray  # per event: the row of ``everything`` whose payload is the event's
    groups: EventGroups  # which event each delivery belongs to (event numbers = rows of ``events``)


def side(df: pd.DataFrame, include_rejected: bool, connections: pd.DataFrame | None = None) -> Side:
    """Split one side: the comparable deliveries (kinds in :data:`COMPARED_KINDS`, signature not refused)."""
    comparable = df["kind"].isin(list(COMPARED_KINDS))
    rejected = (
        df["signature"].isin(list(REJECTED))
        if "signature" in df.columns and not include_rejected
        else pd.Series(False, index=df.index)
    )
    keep = (comparable & ~rejected).to_numpy(dtype=bool)
    used, rows = _arrival_order(df[[c for c in df.columns if c in _USED]], keep)
    groups = event_groups(used) if len(used) else EventGroups(*(np.zeros(0, "int64"),) * 4)
    ev = events_view(used, groups)
    # per event, by integer event numbers (no grouping on strings)
    retry = (used["retry_attempt"].fillna(0) > 0).to_numpy(dtype=bool)
    ev["retries"] = np.bincount(groups.event[retry], minlength=len(ev)).astype("int64")
    status = pd.to_numeric(used["http_status"], errors="coerce")
    received = used["received_at"].array
    keyed = used["event_key"].notna().to_numpy(dtype=bool)  # an event without a key has no accepted time
    ok = (status.isna() | status.between(200, 299)).to_numpy(dtype=bool) & keyed & ~received.isna()
    first_ok = np.full(len(ev), -1, dtype="int64")
    hit, at = np.unique(groups.event[ok], return_index=True)  # rows are in time order: first = earliest
    first_ok[hit] = np.flatnonzero(ok)[at]
    payload_rows = rows[groups.first]
    ev["happened_at"] = happened(ev, lambda: df["payload"].iloc[payload_rows] if "payload" in df else None)
    ev["accepted_at"] = pd.Series(
        received.take(first_ok, allow_fill=True).astype("datetime64[ns, UTC]"), index=ev.index
    )
    ev["latency_s"] = (ev["accepted_at"] - ev["happened_at"]).dt.total_seconds()
    return Side(
        ev.reset_index(drop=True),
        used,
        df,
        int((~comparable).sum()),
        int((comparable & rejected).sum()),
        connections,
        payload_rows,
        groups,
    )


# ---------------------------------------------------------------- matching
#
# Matching works on integer positions and codes, never on copies of the event rows: the
# keys are factorised once per pass (Arrow-backed text hashes without making Python
# strings), repeats are numbered by a sort of the codes, and the line-up takes each column
# it shows once, already in its final order. The payloads are never copied: the line-up
# keeps each side's positions and fetches payload text when asked (fields, diff).


def occurrence(codes: np.ndarray) -> np.ndarray:
    """For each entry, how many earlier entries carry the same code (0 for the first)."""
    order = np.argsort(codes, kind="stable")
    ranked = codes[order]
    idx = np.arange(len(codes))
    starts = np.r_[True, ranked[1:] != ranked[:-1]] if len(codes) else np.zeros(0, bool)
    out = np.empty(len(codes), dtype="int64")
    out[order] = idx - np.maximum.accumulate(np.where(starts, idx, 0))
    return out


def _pair(key_a: pd.Series, key_b: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Positions ``ia``/``ib`` of rows with equal keys (the n-th with the n-th when repeated), in ``a``'s order."""
    both = pd.concat([key_a.reset_index(drop=True), key_b.reset_index(drop=True)], ignore_index=True)
    codes = pd.factorize(both.array, use_na_sentinel=True)[0].astype("int64")
    code_a, code_b = codes[: len(key_a)], codes[len(key_a) :]
    span = len(codes) + 1
    ca, cb = code_a * span + occurrence(code_a), code_b * span + occurrence(code_b)  # (key, n) as one integer per side
    has_a, has_b = np.flatnonzero(code_a >= 0), np.flatnonzero(code_b >= 0)
    found = pd.Index(cb[has_b]).get_indexer(ca[has_a])
    hit = found >= 0
    return has_a[hit], has_b[found[hit]]


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


def _match(a: pd.DataFrame, b: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All rows of both sides as pairs: ``ia``, ``ib`` (-1 when absent) and ``matched_on`` (``None`` when unmatched)."""
    id_a, id_b = _pair(
        _match_id(a[["kind", "event_id", "trigger_id"]]), _match_id(b[["kind", "event_id", "trigger_id"]])
    )
    on_id = np.where(a["kind"].to_numpy()[id_a] == "events_api", "event_id", "trigger_id").astype(object)
    rest_a = np.setdiff1d(np.arange(len(a)), id_a, assume_unique=True)
    rest_b = np.setdiff1d(np.arange(len(b)), id_b, assume_unique=True)
    cols = ["kind", *_CONTENT]
    ka, kb = _content_key(a[cols].iloc[rest_a]), _content_key(b[cols].iloc[rest_b])
    ca, cb = _pair(ka, kb)
    ca, cb = rest_a[ca], rest_b[cb]
    only_a = np.setdiff1d(rest_a, ca, assume_unique=True)
    only_b = np.setdiff1d(rest_b, cb, assume_unique=True)
    ia = np.concatenate([id_a, ca, only_a, np.full(len(only_b), -1)]).astype("int64")
    ib = np.concatenate([id_b, cb, np.full(len(only_a), -1), only_b]).astype("int64")
    on = np.concatenate([on_id, np.full(len(ca), "content", object), np.full(len(only_a) + len(only_b), None, object)])
    return ia, ib, on


def lineup(a: pd.DataFrame, b: pd.DataFrame, labels: tuple[str, str]) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """One row per event of either side: status, key that matched, per-side deliveries, times.

    Returns the line-up and, per row, the position of its event in ``a`` and in ``b``
    (-1: not on that side), which is how payloads are found without copying them.
    ``{label}_order`` is the event's arrival rank on that side among the matched
    events, so ``order_shift`` (B's rank minus A's) is non-zero for events that
    arrived in a different order on the two sides.
    """
    la, lb = labels
    ia, ib, on = _match(a, b)
    # The order first (numbers only), then every shown column taken once, in that order.
    arrived = [
        pd.to_datetime(x["first_received_at"].reindex(i).reset_index(drop=True), utc=True)
        for x, i in ((a, ia), (b, ib))
    ]
    both = (ia >= 0) & (ib >= 0)
    ranks = [t.where(both).rank(method="first").to_numpy() for t in arrived]
    order = arrived[0].where(arrived[0].notna(), arrived[1]).sort_values(kind="stable").index.to_numpy()
    ia, ib, on = ia[order], ib[order], on[order]
    shown = [
        *CARRIED,
        "deliveries",
        "retries",
        "first_received_at",
        "latency_s",
        "accepted_at",
        "event_key",
        "happened_at",
    ]
    ra = a[shown].reindex(ia).reset_index(drop=True)
    rb = b[shown].reindex(ib).reset_index(drop=True)
    in_a, in_b = ia >= 0, ib >= 0
    out = pd.DataFrame(
        {
            "status": np.select([in_a & in_b, in_a], ["matched", f"only_{la}"], f"only_{lb}"),
            "matched_on": on,
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
    happened_a = pd.to_datetime(ra["happened_at"], utc=True)
    out["happened_at"] = happened_a.where(happened_a.notna(), pd.to_datetime(rb["happened_at"], utc=True))
    out["gap_s"] = (out[f"{lb}_received_at"] - out[f"{la}_received_at"]).dt.total_seconds()
    for label, rank in zip(labels, ranks, strict=True):
        out[f"{label}_order"] = pd.Series(rank[order]).astype("Int64")
    out["order_shift"] = (out[f"{lb}_order"] - out[f"{la}_order"]).astype("Int64")
    return out, ia, ib


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
