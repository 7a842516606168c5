"""Deliveries per interval and event type: the numbers behind every timeline chart.

:func:`timeline_counts` takes a deliveries DataFrame (or a Capture);
:func:`timeline_table` builds the same table from epoch nanoseconds and event
type codes, which is how the explore panel counts a growing capture without
re-reading it (:class:`slacklab.notebook.codes.Codes`). One implementation
serves both; :mod:`slacklab.notebook.plots` draws the result.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from slacklab.notebook.filters import NONE_LABEL, label_counts

__all__ = [
    "INTERVALS",
    "OTHER_LABEL",
    "DataLike",
    "format_interval",
    "frame_of",
    "parse_interval",
    "timeline_counts",
    "timeline_table",
]

OTHER_LABEL = "other"
"""The stack that gathers the less frequent event types of a timeline."""

INTERVALS: tuple[pd.Timedelta, ...] = tuple(
    pd.Timedelta(s)
    for s in (
        "100ms",
        "200ms",
        "500ms",
        "1s",
        "2s",
        "5s",
        "10s",
        "15s",
        "30s",
        "1min",
        "2min",
        "5min",
        "10min",
        "15min",
        "30min",
        "1h",
        "2h",
        "3h",
        "6h",
        "12h",
        "1D",
        "7D",
    )
)
"""The "nice" intervals a timeline snaps to when it picks one by itself."""

DataLike = Any  # a deliveries DataFrame, or an object with .deliveries() (a Capture)


def frame_of(data: DataLike) -> pd.DataFrame:
    if isinstance(data, pd.DataFrame):
        return data
    deliveries = getattr(data, "deliveries", None)
    if callable(deliveries):
        return deliveries()
    raise TypeError(f"expected a deliveries DataFrame or a Capture, not {type(data).__name__}")


def parse_interval(interval: str | float | pd.Timedelta | None) -> pd.Timedelta | None:
    """A positive Timedelta from ``"30s"``, ``"5min"``, seconds or a Timedelta; ``None``/``"auto"`` → ``None``."""
    if interval is None or (isinstance(interval, str) and interval.strip().lower() == "auto"):
        return None
    if isinstance(interval, int | float) and not isinstance(interval, bool):
        step = pd.Timedelta(seconds=float(interval))
    else:
        step = pd.Timedelta(interval)
    if pd.isna(step) or step <= pd.Timedelta(0):
        raise ValueError(f"interval must be positive, not {interval!r}")
    return step


def format_interval(step: pd.Timedelta) -> str:
    """``"500 ms"``, ``"10 s"``, ``"5 min"``, ``"2 h"``, ``"1 d"`` — for axis labels."""
    seconds = step.total_seconds()
    for unit, size in (("d", 86400.0), ("h", 3600.0), ("min", 60.0), ("s", 1.0)):
        if seconds >= size and (seconds / size).is_integer():
            return f"{seconds / size:g} {unit}"
    return f"{seconds * 1000:g} ms"


def _nice_interval(at_least: pd.Timedelta) -> pd.Timedelta:
    for step in INTERVALS:
        if step >= at_least:
            return step
    return INTERVALS[-1] * int(np.ceil(at_least / INTERVALS[-1]))


def _utc_ns(series: pd.Series) -> np.ndarray:
    """Epoch nanoseconds (int64) of the non-missing times in ``series``."""
    index = pd.DatetimeIndex(series.dropna())
    if index.tz is None:
        index = index.tz_localize("UTC")
    return np.asarray(index.as_unit("ns").asi8, dtype="int64")


def timeline_counts(
    data: DataLike,
    interval: str | float | pd.Timedelta | None = "auto",
    *,
    max_types: int = 8,
    max_bins: int = 150,
    target_bins: int = 40,
) -> pd.DataFrame:
    """Deliveries per interval and event type: what :func:`plot_timeline` stacks.

    The index holds each interval's start (UTC, every interval between the
    first and the last delivery, empty ones included); the columns are the
    ``max_types`` most frequent event types, then :data:`OTHER_LABEL` for the
    rest (only when there is a rest). ``"auto"`` picks a nice interval giving
    about ``target_bins`` bars; a requested interval that would give more than
    ``max_bins`` bars is widened to a nice one that fits. The interval used is
    in ``result.attrs["interval"]``.
    """
    df = frame_of(data)
    has_time = "received_at" in df.columns
    valid = df["received_at"].notna().to_numpy(dtype=bool) if has_time else np.zeros(len(df), dtype=bool)
    ns = _utc_ns(df["received_at"]) if has_time else np.array([], dtype="int64")

    def types() -> tuple[pd.Series, np.ndarray, list[str]]:
        event_types = (
            df["event_type"] if "event_type" in df.columns else pd.Series(None, index=df.index, dtype="object")
        )
        codes, uniques = pd.factorize(event_types[valid].astype("object").fillna(NONE_LABEL).astype(str))
        return label_counts(df, "event_type"), codes, list(uniques)

    return timeline_table(ns, types, interval, max_types=max_types, max_bins=max_bins, target_bins=target_bins)


def timeline_table(
    ns: np.ndarray,
    types: Callable[[], tuple[pd.Series, np.ndarray, list[str]]],
    interval: str | float | pd.Timedelta | None,
    *,
    max_types: int = 8,
    max_bins: int = 150,
    target_bins: int = 40,
) -> pd.DataFrame:
    """The table of :func:`timeline_counts` from its parts (the explore panel keeps them between redraws).

    With a single instant (one delivery, or a burst inside one interval) and
    ``"auto"``, the interval is one second, so a lone bar is not a sliver.

    ``ns``: epoch nanoseconds (UTC) of the rows that have a time; ``types()`` returns
    :func:`label_counts` of every row's event type (it picks and orders the columns), and each
    timed row's event type label as a position (``codes``) in a list of ``labels``.
    """
    requested = parse_interval(interval)
    span = pd.Timedelta(int(ns.max() - ns.min()), unit="ns") if len(ns) else pd.Timedelta(0)
    step = requested or (_nice_interval(span / target_bins) if span > pd.Timedelta(0) else pd.Timedelta(seconds=1))
    if span / step >= max_bins:
        step = _nice_interval(max(step, span / (max_bins - 1)))
    if not len(ns):
        empty = pd.DataFrame(index=pd.DatetimeIndex([], tz="UTC", name="interval_start"), dtype="int64")
        empty.attrs["interval"] = step
        return empty
    counts_by_label, codes, labels = types()
    step_ns = int(step.value)
    base = (int(ns.min()) // step_ns) * step_ns
    bins = (ns - base) // step_ns
    n_bins = int(bins.max()) + 1
    top = list(counts_by_label.index[:max_types])
    columns = (top or [NONE_LABEL]) + ([OTHER_LABEL] if len(counts_by_label) > max_types else [])
    position = {label: i for i, label in enumerate(columns)}
    other = position.get(OTHER_LABEL, len(columns) - 1)
    lookup = np.array([position.get(u, other) for u in labels], dtype="int64")
    cells = bins * len(columns) + lookup[codes]
    counts = np.bincount(cells, minlength=n_bins * len(columns)).reshape(n_bins, len(columns))
    index = pd.DatetimeIndex(
        pd.to_datetime(base + step_ns * np.arange(n_bins), unit="ns", utc=True), name="interval_start"
    )
    out = pd.DataFrame(counts.astype("int64"), index=index, columns=pd.Index(columns, name="event_type"))
    out.attrs["interval"] = step
    return out
