"""Delivery rows → typed pandas DataFrames, and the views derived from them.

* :func:`deliveries_frame` — one row per delivery, columns in
  :data:`slacklab.schema.COLUMNS` order with the dtypes of
  :data:`slacklab.store.PANDAS_DTYPES` (timestamps tz-aware UTC), the
  ``payload`` column masked JSON text, tokens in ``text`` masked;
* :func:`events_view` — one row per event (``event_key``), with ``deliveries``
  (how many times it arrived) and ``first_received_at``/``last_received_at``;
* :func:`counts_by_type` — deliveries and distinct events per ``event_type``
  (:func:`counts_by_type_codes` computes it from integer codes).

Every function accepts any DataFrame in the delivery schema, so captures,
journals reloaded with :func:`slacklab.load` and HTTP logs all work.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from slacklab.store import chunk_from_rows, payload_json, to_frame

__all__ = [
    "EventGroups",
    "counts_by_type",
    "counts_by_type_codes",
    "deliveries_frame",
    "empty_frame",
    "event_groups",
    "events_view",
    "format_ms",
    "paused_gc",
    "payload_json",
    "select_rows",
    "values_at",
]


@contextmanager
def paused_gc() -> Iterator[None]:
    """Hold Python's cyclic garbage collector off while building many objects that all stay alive.

    Loading a journal or building a big snapshot keeps every parsed payload, so each
    automatic collection would walk the whole growing heap for nothing; pausing it
    halves those bulk steps (``benchmarks/bench_million.py``). Reference counting
    still frees everything as usual; the collector comes back afterwards.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def empty_frame() -> pd.DataFrame:
    """An empty deliveries DataFrame with the full schema and dtypes (:data:`slacklab.store.PANDAS_DTYPES`)."""
    return to_frame([])


def deliveries_frame(rows: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """Build the deliveries DataFrame from rows made by :func:`slacklab.schema.make_row`.

    The same conversion a capture uses (:func:`slacklab.store.rows_to_batch`), so the
    dtypes are the same as every ``capture.df``.
    """
    rows = list(rows)
    return to_frame([chunk_from_rows(rows)] if rows else [])


def select_rows(df: pd.DataFrame, keep: np.ndarray) -> pd.DataFrame:
    """``df[keep]`` (a boolean mask) with a fresh RangeIndex, fast on Arrow-backed text columns.

    pandas turns a mask into positions and takes them, and Arrow's take of positions first
    joins a column's chunks (~0.2 s for a 1M-row payload column); filtering with the mask
    goes chunk by chunk instead. Other columns are masked as pandas would.
    """
    if keep.all():
        return df.reset_index(drop=True)
    mask = pa.array(keep)
    data: dict[str, Any] = {}
    for name in df.columns:
        values = df[name].array
        dtype = values.dtype
        if isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow":
            data[name] = dtype.__from_arrow__(pa.chunked_array(values.__arrow_array__()).filter(mask))
        else:
            data[name] = values[keep]
    return pd.DataFrame(data, columns=df.columns, copy=False)


def values_at(series: pd.Series, positions: np.ndarray, *, block: int = 8192) -> Iterator[Any]:
    """The values of ``series`` at ``positions`` (any order given; yielded in ascending position order).

    For an Arrow-backed text column this goes chunk by chunk and ``block`` values at a
    time, so neither the chunks are joined nor a million Python strings made at once
    (``compare().fields`` reads the payload of every matched pair this way).
    """
    positions = np.sort(np.asarray(positions, dtype="int64"))
    dtype = series.dtype
    if not (isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow"):
        yield from series.iloc[positions]
        return
    offset = 0
    for chunk in pa.chunked_array(series.array.__arrow_array__()).chunks:
        lo, hi = np.searchsorted(positions, [offset, offset + len(chunk)])
        for start in range(lo, hi, block):
            local = positions[start : min(hi, start + block)] - offset
            yield from chunk.take(pa.array(local)).to_pylist()
        offset += len(chunk)


@dataclass(frozen=True)
class EventGroups:
    """Which deliveries belong to which event, as positions (:func:`event_groups`).

    ``event[i]``: the event number (0, 1, … in order of first arrival) of row ``i``;
    ``first[e]``/``last[e]``: the row of event ``e``'s first/last delivery;
    ``counts[e]``: its deliveries. Rows without an ``event_key`` are events of their own.
    """

    event: np.ndarray
    first: np.ndarray
    last: np.ndarray
    counts: np.ndarray


def event_groups(df: pd.DataFrame) -> EventGroups:
    """Group the rows of a deliveries frame by ``event_key`` in time order, without grouping on strings."""
    # Work on positions, not copies: the time order of the rows, then integer codes
    # for the keys in that order. factorize numbers keys by first appearance, so the
    # first row of each code is its first delivery, and np.unique's first/last
    # indices give both ends.
    by_time = np.argsort(df["received_at"].array.asi8, kind="stable")  # int64 nanoseconds: no Timestamp objects
    # factorize the keys where they are (Arrow-backed text hashes without making Python strings),
    # then put the codes in time order and renumber them by first appearance in that order
    codes = pd.factorize(df["event_key"].array, use_na_sentinel=True)[0][by_time]
    missing = codes < 0
    if missing.any():  # rows without a key stand alone: each gets its own code, in place
        codes[missing] = codes.max() + 1 + np.arange(int(missing.sum()))
    codes = pd.factorize(codes)[0]
    _, first_at, counts = np.unique(codes, return_index=True, return_counts=True)
    last_at = len(codes) - 1 - np.unique(codes[::-1], return_index=True)[1]
    event = np.empty(len(codes), dtype="int64")
    event[by_time] = codes
    return EventGroups(event, by_time[first_at], by_time[last_at], counts.astype("int64"))


def events_view(df: pd.DataFrame, groups: EventGroups | None = None) -> pd.DataFrame:
    """One row per event: the first delivery of each ``event_key``, plus delivery counts.

    Added columns: ``deliveries`` (times it arrived, retries and duplicates
    included), ``first_received_at``, ``last_received_at``. Rows without a key
    are kept as they are (one delivery each). ``groups``: :func:`event_groups` of
    ``df`` when the caller has it already.
    """
    if df.empty:
        out = df.copy()
        out["deliveries"] = pd.Series([], dtype="int64")
        out["first_received_at"] = out["received_at"]
        out["last_received_at"] = out["received_at"]
        return out
    g = event_groups(df) if groups is None else groups
    picks = g.first
    if (np.diff(picks) > 0).all() and df.columns.is_unique:  # rows in receive order (the usual case)
        keep = np.zeros(len(df), dtype=bool)
        keep[picks] = True
        out = select_rows(df, keep)
    else:
        out = df.iloc[picks].reset_index(drop=True)
    out["deliveries"] = g.counts
    out["first_received_at"] = out["received_at"]
    out["last_received_at"] = df["received_at"].take(g.last).reset_index(drop=True)
    return out


def counts_by_type(df: pd.DataFrame) -> pd.DataFrame:
    """Deliveries, distinct events and retries per ``event_type``, most frequent first."""
    if df.empty:
        return counts_by_type_codes(np.zeros(0, "int64"), [], np.zeros(0, "int64"), 0, np.zeros(0, bool))
    types, labels = pd.factorize(df["event_type"].astype("object").fillna("(none)"))
    keys, unique_keys = pd.factorize(df["event_key"].astype("object"), use_na_sentinel=True)
    retry = df["retry_attempt"].fillna(0).gt(0).to_numpy(dtype=bool)
    return counts_by_type_codes(types, list(labels), keys, len(unique_keys), retry)


def counts_by_type_codes(
    types: np.ndarray, labels: list[Any], keys: np.ndarray, n_keys: int, retry: np.ndarray
) -> pd.DataFrame:
    """:func:`counts_by_type` from integer codes, so a caller that keeps codes skips the hashing.

    ``types``: each row's event type as a position in ``labels``; ``keys``: its
    ``event_key`` code in ``range(n_keys)`` (-1: none); ``retry``: its retry flag.
    The explore panel keeps such codes for a growing capture
    (:class:`slacklab.notebook.codes.Codes`); :func:`counts_by_type` makes them.
    """
    size = len(labels)
    deliveries = np.bincount(types, minlength=size) if len(types) else np.zeros(size, "int64")
    has_key = keys >= 0
    span = max(1, n_keys)
    pairs = pd.unique(types[has_key] * span + keys[has_key])  # one per (type, event)
    events = np.bincount(pairs // span, minlength=size) if len(pairs) else np.zeros(size, "int64")
    retries = np.bincount(types[retry], minlength=size) if retry.any() else np.zeros(size, "int64")
    present = sorted(np.flatnonzero(deliveries), key=lambda i: labels[i])
    out = pd.DataFrame(
        {
            "deliveries": deliveries[present].astype("int64"),
            "events": events[present].astype("int64"),
            "retries": retries[present].astype("int64"),
        },
        index=pd.Index([labels[i] for i in present], name="event_type", dtype="object"),
    )
    return out.sort_values(["deliveries", "events"], ascending=False, kind="stable")


def format_ms(ms: float) -> str:
    """Milliseconds as people read them: ``0.04 ms``, ``3.65 ms``, ``12 ms`` (acks are often well under 0.1 ms)."""
    return f"{ms:.2f} ms" if ms < 10 else f"{ms:.0f} ms"
