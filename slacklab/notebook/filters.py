"""What to show of a deliveries DataFrame: a frozen :class:`Filters` value applied with vectorised pandas.

This is the model behind :func:`slacklab.explore` (the widget panel in
:mod:`slacklab.notebook.panel` is only its view), so scripts and tests use it
directly, without ipywidgets::

    from slacklab.notebook.filters import Filters
    f = Filters(event_types=("message",), hide_retries=True, text="deploy")
    f.apply(cap.df)            # the matching rows
    label_counts(cap.df, "channel")   # the choices a channel picker offers

Every filter works on any DataFrame in the delivery schema
(:data:`slacklab.schema.COLUMNS`): a capture's deliveries, its events view, a
reloaded journal or an HTTP log. A million rows filter in a few tens of
milliseconds; the free-text search, the slowest (~0.15 s at a million rows), is a
plain substring match ignoring case by Unicode simple case folding (no regular
expressions, so ``.`` or ``(`` mean themselves): see :func:`contains`.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeAlias

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["NONE_LABEL", "Filters", "contains", "counts_from_codes", "label_counts", "time_span", "to_utc"]

NONE_LABEL = "(none)"
"""How a missing value (no event type, no channel…) is shown and selected."""

SEARCH_COLUMNS = ("text", "payload")
"""The columns the free-text search looks in: the message text and the (masked) raw payload."""

TimeLike: TypeAlias = pd.Timestamp | datetime | str | float | int


def to_utc(value: TimeLike | None) -> pd.Timestamp | None:
    """A timezone-aware UTC timestamp from a Timestamp, datetime, ISO string or epoch seconds.

    Naive values are taken to be UTC already, as everywhere in slacklab.
    """
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return pd.Timestamp(float(value), unit="s", tz="UTC")
    stamp = pd.Timestamp(value)
    if stamp is pd.NaT:
        raise ValueError(f"not a time: {value!r}")
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def contains(values: pd.Series, needle: str, rows: np.ndarray | None = None) -> np.ndarray:
    """Which values contain ``needle``, ignoring case; only ``rows`` (a boolean mask) are looked at.

    The rule: a plain substring (no regular expressions), compared after **Unicode simple
    case folding** (each character folds to one character, as in RE2, ICU's simple folding
    and most regex engines): ``é`` finds ``É``, ``σ`` finds ``Σ`` and ``ς``, ``k`` finds
    the Kelvin sign; ``ss`` does not find ``ß`` and ``fi`` does not find the ligature
    ``ﬁ`` (those need full folding, which changes lengths). Missing values never match.

    Arrow-backed text (every capture's columns) is searched by ``pyarrow.compute.match_substring``
    chunk by chunk, in a few threads (it releases the GIL): ~0.25 s of CPU for the 840 MB of
    payloads of a million deliveries, against ~4 s for pandas' upper-casing ``str.contains``.
    """
    rows = np.ones(len(values), dtype=bool) if rows is None else rows
    found = np.zeros(len(values), dtype=bool)
    if not len(values) or not rows.any():
        return found
    array = _arrow_text(values)
    step = -(-len(values) // _SEARCH_PARTS)
    parts = [(start, min(len(values), start + step)) for start in range(0, len(values), step)]

    def search(part: tuple[int, int]) -> None:
        start, stop = part
        wanted = rows[start:stop]
        if not wanted.any():
            return
        piece = array.slice(start, stop - start)  # zero-copy
        if wanted.mean() < 0.3:  # few candidates: search only those (the filter copies just them)
            found[start + np.flatnonzero(wanted)] = _match(piece.filter(pa.array(wanted)), needle)
        else:
            found[start:stop] = _match(piece, needle) & wanted

    with ThreadPoolExecutor(max_workers=_SEARCH_THREADS) as pool:
        list(pool.map(search, parts))
    return found


_SEARCH_PARTS = 16
_SEARCH_THREADS = min(4, os.cpu_count() or 1)


def _arrow_text(values: pd.Series) -> pa.ChunkedArray:
    """The column as Arrow text: without copying when it is Arrow-backed; else values that are not text are missing."""
    dtype = values.dtype
    if isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow":
        return pa.chunked_array(values.array.__arrow_array__())
    texts = [v if isinstance(v, str) else None for v in values.to_numpy(dtype=object)]
    return pa.chunked_array([pa.array(texts, type=pa.large_string())])


def _match(array: pa.ChunkedArray | pa.Array, needle: str) -> np.ndarray:
    hits = pc.match_substring(array, needle, ignore_case=True).fill_null(False)
    return np.asarray(hits.to_numpy(zero_copy_only=False), dtype=bool)


def _column(df: pd.DataFrame, name: str) -> pd.Series:
    """The column, or an all-missing one when the frame lacks it (so filters never raise KeyError)."""
    if name in df.columns:
        return df[name]
    return pd.Series(None, index=df.index, dtype="object")


def _labels(series: pd.Series) -> pd.Series:
    """Values as text, with :data:`NONE_LABEL` for missing ones."""
    return series.astype("object").where(series.notna(), NONE_LABEL).astype(str)


@dataclass(frozen=True, slots=True)
class Filters:
    """Which deliveries to keep. The default keeps everything; each field narrows it down.

    Args:
        event_types: keep these event types (empty: all). :data:`NONE_LABEL` selects rows without one.
        channel: keep this channel id (``None``: any).
        user: keep this user id (``None``: any).
        team: keep this workspace (``team_id``; ``None``: any): Slack Connect and Enterprise Grid
            captures hold events of several teams.
        text: keep rows whose text or raw payload contains this, ignoring case.
        start: keep rows received at or after this time (UTC; epoch seconds or ISO text work too).
        end: keep rows received at or before this time.
        source: ``"socket"`` or ``"http"`` (``None``: both).
        hide_retries: drop redeliveries (``retry_attempt`` > 0), keeping first attempts.

    Call :meth:`apply` to get the rows, :meth:`replace` to change one field.
    """

    event_types: tuple[str, ...] = ()
    channel: str | None = None
    user: str | None = None
    team: str | None = None
    text: str = ""
    start: pd.Timestamp | None = None
    end: pd.Timestamp | None = None
    source: str | None = None
    hide_retries: bool = False

    def __post_init__(self) -> None:
        types = self.event_types
        if isinstance(types, str):
            types = (types,)
        object.__setattr__(self, "event_types", tuple(dict.fromkeys(str(t) for t in types)))
        object.__setattr__(self, "text", (self.text or "").strip())
        object.__setattr__(self, "start", to_utc(self.start))
        object.__setattr__(self, "end", to_utc(self.end))

    def replace(self, **changes: Any) -> Filters:
        """A copy with some fields changed: ``f.replace(hide_retries=True)``."""
        return dataclasses.replace(self, **changes)

    @property
    def active(self) -> bool:
        """True when at least one field narrows the rows down."""
        return self != Filters()

    def mask(self, df: pd.DataFrame) -> np.ndarray:
        """A boolean array, one entry per row of ``df``: True where the row passes every filter."""
        keep = np.ones(len(df), dtype=bool)
        if not len(df):
            return keep
        if self.event_types:
            types = _column(df, "event_type")
            named = [t for t in self.event_types if t != NONE_LABEL]
            hit = types.isin(named).to_numpy(dtype=bool)
            if NONE_LABEL in self.event_types:
                hit = hit | types.isna().to_numpy(dtype=bool)
            keep &= hit
        for name, wanted in (
            ("channel", self.channel),
            ("user", self.user),
            ("team_id", self.team),
            ("source", self.source),
        ):
            if wanted is not None:
                values = _column(df, name)
                if wanted == NONE_LABEL:
                    keep &= values.isna().to_numpy(dtype=bool)
                else:
                    keep &= (values == wanted).fillna(False).to_numpy(dtype=bool)
        if self.hide_retries:
            retry = pd.to_numeric(_column(df, "retry_attempt"), errors="coerce").fillna(0)
            keep &= (retry <= 0).to_numpy(dtype=bool)
        if self.start is not None or self.end is not None:
            received = _column(df, "received_at")
            if self.start is not None:
                keep &= (received >= self.start).fillna(False).to_numpy(dtype=bool)
            if self.end is not None:
                keep &= (received <= self.end).fillna(False).to_numpy(dtype=bool)
        if self.text:
            keep = self.search(df, keep)
        return keep

    def search(self, df: pd.DataFrame, rows: np.ndarray | None = None) -> np.ndarray:
        """The rows (of ``rows``, a boolean mask; default all) whose text or payload contains :attr:`text`."""
        keep = np.ones(len(df), dtype=bool) if rows is None else rows
        if not self.text:
            return keep.copy()
        found = np.zeros(len(df), dtype=bool)
        for name in SEARCH_COLUMNS:
            if name in df.columns:
                todo = keep & ~found  # only rows still candidates: the search is the slow part
                if todo.any():
                    found |= contains(df[name], self.text, todo)
        return found

    def narrows(self, other: Filters) -> bool:
        """True when ``other`` differs only by a longer text containing this one (someone typing on).

        Then ``other`` keeps a subset of these rows, so ``other.search(df, self.mask(df))`` is its mask.
        """
        if not self.text or other.text == self.text or other.replace(text=self.text) != self:
            return False
        return bool(contains(pd.Series([other.text], dtype="object"), self.text)[0])

    def apply(self, df: pd.DataFrame) -> pd.DataFrame:
        """The rows of ``df`` that pass. With no active filter, ``df`` itself (not a copy)."""
        if not self.active:
            return df
        return df[self.mask(df)]

    def describe(self) -> str:
        """The active filters in a few words (``"all deliveries"`` when none)."""
        parts: list[str] = []
        if self.event_types:
            parts.append("type " + " or ".join(self.event_types))
        for name in ("channel", "user", "team", "source"):
            value = getattr(self, name)
            if value is not None:
                parts.append(f"{name} {value}")
        if self.text:
            parts.append(f"containing {self.text!r}")
        if self.start is not None:
            parts.append(f"from {self.start:%Y-%m-%d %H:%M:%S}")
        if self.end is not None:
            parts.append(f"until {self.end:%Y-%m-%d %H:%M:%S}")
        if self.hide_retries:
            parts.append("no retries")
        return ", ".join(parts) if parts else "all deliveries"


def label_counts(df: pd.DataFrame, column: str, *, limit: int | None = None) -> pd.Series:
    """How many rows have each value of ``column``, most frequent first (ties by name).

    Missing values count under :data:`NONE_LABEL`. ``limit`` keeps the first
    ones. This is what the panel's pickers list and what the event-type bar
    chart draws.
    """
    if column not in df.columns or df.empty:
        return counts_from_codes(np.zeros(0, dtype="int64"), [], column)
    positions, labels = pd.factorize(_labels(df[column]))
    return counts_from_codes(positions, list(labels), column, limit=limit)


def counts_from_codes(
    positions: np.ndarray, labels: Sequence[str], column: str, *, limit: int | None = None
) -> pd.Series:
    """:func:`label_counts` from each row's label as a position in ``labels`` (one implementation for both).

    The explore panel keeps integer codes of a growing capture's columns
    (:class:`slacklab.notebook.codes.Codes`) and counts them without hashing
    a string; :func:`label_counts` factorises a frame and comes here too.
    """
    counts = np.bincount(positions, minlength=len(labels)) if len(positions) else np.zeros(len(labels), "int64")
    present = np.flatnonzero(counts)
    out = pd.Series(counts[present], index=pd.Index([labels[int(i)] for i in present], dtype="object"), dtype="int64")
    out = out.sort_index().sort_values(ascending=False, kind="stable")
    out.index = pd.Index(out.index, name=column, dtype="object")
    out.name = "count"
    return out if limit is None else out.iloc[:limit]


def time_span(df: pd.DataFrame) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    """The first and last ``received_at`` of ``df`` (UTC), or ``None`` when there is none."""
    if "received_at" not in df.columns:
        return None
    received = df["received_at"]
    first, last = received.min(), received.max()
    if pd.isna(first) or pd.isna(last):
        return None
    start, end = to_utc(first), to_utc(last)
    assert start is not None and end is not None
    return start, end
