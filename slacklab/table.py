"""Delivery rows → typed pandas DataFrames, and the views derived from them.

* :func:`deliveries_frame` — one row per delivery, columns in
  :data:`slacklab.schema.COLUMNS` order, timestamps tz-aware UTC, the
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
from typing import Any

import numpy as np
import pandas as pd

from slacklab.redact import mask_json_text, mask_text
from slacklab.schema import COLUMNS, DATETIME_COLUMNS, FLOAT_COLUMNS, INT_COLUMNS

__all__ = [
    "FrameAppender",
    "counts_by_type",
    "counts_by_type_codes",
    "deliveries_frame",
    "empty_frame",
    "events_view",
    "paused_gc",
    "payload_json",
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


def payload_json(payload: Any) -> str | None:
    """The masked, compact JSON text of a payload (``None`` stays ``None``)."""
    if payload is None:
        return None
    if isinstance(payload, str):
        return payload
    return mask_json_text(payload)


def _typed(df: pd.DataFrame) -> pd.DataFrame:
    for col in DATETIME_COLUMNS:
        df[col] = pd.to_datetime(df[col].astype("float64"), unit="s", utc=True).astype("datetime64[ns, UTC]")
    for col in INT_COLUMNS:
        df[col] = df[col].astype("Int64")
    for col in FLOAT_COLUMNS:
        df[col] = df[col].astype("float64")
    return df


def empty_frame() -> pd.DataFrame:
    """An empty deliveries DataFrame with the full schema and dtypes."""
    return _typed(pd.DataFrame({c: pd.Series([], dtype="object") for c in COLUMNS}))


def deliveries_frame(rows: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """Build the deliveries DataFrame from rows made by :func:`slacklab.schema.make_row`."""
    rows = list(rows)
    if not rows:
        return empty_frame()
    df = pd.DataFrame.from_records(rows, columns=list(COLUMNS))
    df["payload"] = [payload_json(p) for p in df["payload"]]
    # message and command text is user input: a token pasted into a message is masked too
    df["text"] = [mask_text(t) if t.__class__ is str else t for t in df["text"]]
    return _typed(df)


class FrameAppender:
    """A DataFrame that grows by appending frames, in amortised O(new rows) per append.

    ``pd.concat([big, small])`` copies every row each time, so refreshing a
    million-row snapshot after a few new rows would cost hundreds of
    milliseconds. This keeps each column's values in buffers with spare room
    and returns DataFrames whose columns are views of the first ``n`` rows:
    appending writes past the end of every earlier snapshot, so those never
    change. The result equals ``pd.concat(frames, ignore_index=True)`` (same
    values, dtypes and RangeIndex); whenever a column is not a plain NumPy,
    string, datetime or nullable-integer array, or the dtypes disagree in a
    way not handled here, it falls back to exactly that ``pd.concat``.

    Not thread-safe: the caller serialises :meth:`append` (``Capture`` does).
    """

    _GROWTH = 1.5
    _MIN_CAPACITY = 1024

    def __init__(self) -> None:
        self.frame: pd.DataFrame | None = None
        self._n = 0
        self._capacity = 0
        self._columns: list[str] = []
        self._kinds: list[str] = []  # "numpy", "backed" (NDArray-backed EA), "masked"; [] = unsupported
        self._templates: list[Any] = []
        self._buffers: list[tuple[np.ndarray, ...]] = []

    def append(self, part: pd.DataFrame) -> pd.DataFrame:
        """Append ``part`` (same columns) and return the whole frame so far."""
        if self.frame is None:
            self._reset(part.reset_index(drop=True))
        elif not len(part):
            pass
        elif not self._append_in_place(part):
            self._reset(pd.concat([self.frame, part], ignore_index=True))
        assert self.frame is not None
        return self.frame

    # -- column kinds ------------------------------------------------------

    @staticmethod
    def _kind(series: pd.Series) -> str | None:
        if isinstance(series.dtype, np.dtype):
            return "numpy"
        arr = series.array
        if isinstance(arr, pd.arrays.IntegerArray | pd.arrays.FloatingArray | pd.arrays.BooleanArray):
            return "masked"
        if (
            isinstance(arr, pd.arrays.StringArray | pd.arrays.DatetimeArray)
            and hasattr(arr, "_ndarray")
            and hasattr(arr, "_from_backing_data")
        ):
            return "backed"
        return None

    @staticmethod
    def _parts(kind: str, series: pd.Series) -> tuple[np.ndarray, ...]:
        if kind == "numpy":
            return (series.to_numpy(),)
        arr: Any = series.array
        if kind == "masked":
            return (arr._data, arr._mask)
        return (arr._ndarray,)

    def _view(self, i: int) -> Any:
        n, kind, bufs = self._n, self._kinds[i], self._buffers[i]
        if kind == "numpy":  # a Series with its dtype, so object columns are not re-inferred as str
            return pd.Series(bufs[0][:n], dtype=bufs[0].dtype, copy=False)
        if kind == "masked":
            return type(self._templates[i])(bufs[0][:n], bufs[1][:n], copy=False)
        return self._templates[i]._from_backing_data(bufs[0][:n])

    def _rebuild(self) -> None:
        self.frame = pd.DataFrame({c: self._view(i) for i, c in enumerate(self._columns)}, copy=False)

    def _reset(self, frame: pd.DataFrame) -> None:
        """Start again from ``frame`` (copied into fresh buffers when every column is supported)."""
        kinds = [self._kind(frame[c]) for c in frame.columns] if frame.columns.is_unique else [None]
        if any(k is None for k in kinds):
            self.frame, self._kinds = frame, []
            return
        self._columns = list(frame.columns)
        self._kinds = [k for k in kinds if k is not None]
        self._templates = [frame[c].array for c in self._columns]
        self._n = len(frame)
        self._capacity = max(self._MIN_CAPACITY, int(self._n * self._GROWTH))
        self._buffers = []
        for kind, c in zip(self._kinds, self._columns, strict=True):
            bufs = []
            for part in self._parts(kind, frame[c]):
                buf = np.empty(self._capacity, dtype=part.dtype)
                buf[: self._n] = part
                bufs.append(buf)
            self._buffers.append(tuple(bufs))
        self._rebuild()

    def _append_in_place(self, part: pd.DataFrame) -> bool:
        assert self.frame is not None
        if not self._kinds or list(part.columns) != self._columns:
            return False
        # What pd.concat would do per column: same dtype stays; str with object gives object.
        plan: list[tuple[np.ndarray, ...]] = []
        to_object: list[int] = []
        for i, c in enumerate(self._columns):
            series, kind = part[c], self._kinds[i]
            current = self.frame[c].dtype
            if series.dtype == current and self._kind(series) == kind:
                plan.append(self._parts(kind, series))
            elif current == np.dtype(object) and isinstance(series.dtype, pd.StringDtype):
                plan.append((series.to_numpy(dtype=object),))
            elif isinstance(current, pd.StringDtype) and series.dtype == np.dtype(object) and kind == "backed":
                to_object.append(i)
                plan.append((series.to_numpy(dtype=object),))
            else:
                return False
        k = len(part)
        need = self._n + k
        for i in to_object:  # the whole column becomes object, as pd.concat makes it (once per column)
            buf = np.empty(self._capacity, dtype=object)
            buf[: self._n] = self.frame[self._columns[i]].to_numpy(dtype=object)
            self._kinds[i], self._templates[i], self._buffers[i] = "numpy", None, (buf,)
        if need > self._capacity:  # fresh buffers: earlier snapshots keep the old ones, unchanged
            self._capacity = max(need, int(self._capacity * self._GROWTH))
            grown = []
            for bufs in self._buffers:
                new = []
                for buf in bufs:
                    bigger = np.empty(self._capacity, dtype=buf.dtype)
                    bigger[: self._n] = buf[: self._n]
                    new.append(bigger)
                grown.append(tuple(new))
            self._buffers = grown
        for bufs, values in zip(self._buffers, plan, strict=True):
            for buf, v in zip(bufs, values, strict=True):
                buf[self._n : need] = v
        self._n = need
        self._rebuild()
        return True


def events_view(df: pd.DataFrame) -> pd.DataFrame:
    """One row per event: the first delivery of each ``event_key``, plus delivery counts.

    Added columns: ``deliveries`` (times it arrived, retries and duplicates
    included), ``first_received_at``, ``last_received_at``. Rows without a key
    are kept as they are (one delivery each).
    """
    if df.empty:
        out = df.copy()
        out["deliveries"] = pd.Series([], dtype="int64")
        out["first_received_at"] = out["received_at"]
        out["last_received_at"] = out["received_at"]
        return out
    # Work on positions, not copies: the time order of the rows, then integer codes
    # for the keys in that order. factorize numbers keys by first appearance, so the
    # first row of each code is its first delivery, and np.unique's first/last
    # indices give both ends without grouping on strings.
    received = df["received_at"]
    by_time = np.argsort(received.array.asi8, kind="stable")  # int64 nanoseconds: no Timestamp objects
    codes, _ = pd.factorize(df["event_key"].to_numpy()[by_time], use_na_sentinel=True)
    missing = codes < 0
    if missing.any():  # rows without a key stand alone: each gets its own code, in place
        codes[missing] = codes.max() + 1 + np.arange(int(missing.sum()))
        codes = pd.factorize(codes)[0]
    _, first_at, counts = np.unique(codes, return_index=True, return_counts=True)
    last_at = len(codes) - 1 - np.unique(codes[::-1], return_index=True)[1]
    out = df.iloc[by_time[first_at]].reset_index(drop=True)
    out["deliveries"] = counts.astype("int64")
    out["first_received_at"] = out["received_at"]
    out["last_received_at"] = received.take(by_time[last_at]).reset_index(drop=True)
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
