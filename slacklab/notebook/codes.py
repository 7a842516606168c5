"""Integer codes of a growing deliveries frame, so the explore panel counts and filters without re-hashing.

:class:`Codes` factorises each new row of a capture once; every count the
panel shows then comes from the same functions a plain DataFrame goes through
(:func:`slacklab.notebook.filters.counts_from_codes`,
:func:`slacklab.table.counts_by_type_codes`,
:func:`slacklab.notebook.timeline.timeline_table`), fed with codes instead of
strings. ``tests/test_widgets.py`` checks the results equal plain pandas.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from slacklab.notebook.filters import NONE_LABEL, Filters, counts_from_codes
from slacklab.notebook.timeline import timeline_table
from slacklab.table import counts_by_type_codes

__all__ = ["Codes"]

_CODED = ("event_type", "event_key", "channel", "user", "team_id", "source")
_LABELLED = ("event_type", "channel", "user", "team_id")


class Codes:
    """Integer codes of the text columns the panel counts and filters, for a frame that only grows.

    Hashing a million strings costs ~50-150 ms per pass, and each redraw needed several
    (the pickers' counts, the chart's types, events per type, the type filter). A capture
    only ever appends rows, so this factorises each row once, when it first shows up, and
    every count or filter over these columns is then a NumPy lookup or ``bincount``.
    Codes are positions in ``uniques[column]`` (the values in order of appearance), ``-1``
    for a missing value. ``retry`` is ``retry_attempt > 0`` per row (missing: no).
    """

    def __init__(self) -> None:
        self.n = 0
        self.frame: pd.DataFrame | None = None
        self.codes: dict[str, np.ndarray] = {}
        self.uniques: dict[str, list[Any]] = {}
        self.index: dict[str, dict[Any, int]] = {}
        self.retry = np.zeros(0, dtype=bool)
        self.ns = np.zeros(0, dtype="int64")
        self._reset()

    def _reset(self) -> None:
        self.n = 0
        self.codes = {c: np.zeros(0, dtype="int64") for c in _CODED}
        self.uniques = {c: [] for c in _CODED}
        self.index = {c: {} for c in _CODED}
        self.retry = np.zeros(0, dtype=bool)
        self.ns = np.zeros(0, dtype="int64")

    def update(self, frame: pd.DataFrame, append_only: bool) -> bool:
        """Bring the codes up to ``frame`` (only its new rows when it grew); False when it cannot be coded."""
        if not frame.columns.is_unique or not {*_CODED, "retry_attempt", "received_at"} <= set(frame.columns):
            self.frame = None
            return False
        if len(frame) < self.n or not (append_only or frame is self.frame):
            self._reset()
        self.frame = frame
        if len(frame) == self.n:
            return True
        try:
            tail = frame.iloc[self.n :]
            received = tail["received_at"]
            if not isinstance(received.dtype, pd.DatetimeTZDtype | np.dtype) or received.dtype.kind != "M":
                raise TypeError("received_at is not a datetime column")
            ns = received.array.as_unit("ns").asi8
            retry = (tail["retry_attempt"].fillna(0) > 0).to_numpy(dtype=bool)
            new = {c: self._factorize(c, tail[c]) for c in _CODED}
            if not all(type(u) is str for c in _LABELLED for u in self.uniques[c]):
                raise TypeError("labels that are not text")  # label_counts would turn them into text
        except Exception:  # an odd DataFrame: the panel takes the plain pandas way
            self._reset()
            self.frame = None
            return False
        for c, codes in new.items():
            self.codes[c] = self._append(self.codes[c], codes)
        self.retry = self._append(self.retry, retry)
        self.ns = self._append(self.ns, ns)
        self.n = len(frame)
        return True

    @staticmethod
    def _append(values: np.ndarray, more: np.ndarray) -> np.ndarray:
        """``values`` + ``more`` as a view of a buffer with spare room (a live capture grows by small tails)."""
        n, k = len(values), len(more)
        base = values.base if values.base is not None else values
        if n + k <= len(base) and base.dtype == more.dtype and values.ctypes.data == base.ctypes.data:
            base[n : n + k] = more  # past the end of the earlier view, which nothing else reads
            return base[: n + k]
        grown = np.empty(max(1024, int((n + k) * 1.5)), dtype=np.result_type(values, more))
        grown[:n] = values
        grown[n : n + k] = more
        return grown[: n + k]

    def _factorize(self, column: str, values: pd.Series) -> np.ndarray:
        local, found = pd.factorize(values)
        found = list(found)
        index, uniques = self.index[column], self.uniques[column]
        if not uniques:
            index.update(zip(found, range(len(found)), strict=True))
            uniques.extend(found)
            return np.asarray(local, dtype="int64")
        lookup = np.empty(len(found) + 1, dtype="int64")
        lookup[-1] = -1  # local code -1 (missing) stays -1
        for j, value in enumerate(found):
            code = index.get(value)
            if code is None:
                code = index[value] = len(uniques)
                uniques.append(value)
            lookup[j] = code
        return np.asarray(lookup[local])

    def labels(self, column: str) -> tuple[np.ndarray, list[str]]:
        """Each code's position in the labels (code -1, missing, is last: :data:`NONE_LABEL`), and the labels.

        The labels are what :func:`~slacklab.notebook.filters.label_counts` shows: one per text, a literal
        ``"(none)"`` and the missing values sharing one.
        """
        where: dict[str, int] = {}
        positions = [where.setdefault(str(u), len(where)) for u in self.uniques[column]]
        positions.append(where.setdefault(NONE_LABEL, len(where)))  # code -1 indexes the last entry
        labels = list(where)
        return np.array(positions, dtype="int64"), labels

    def label_counts(self, column: str, mask: np.ndarray | None = None, *, limit: int | None = None) -> pd.Series:
        """:func:`slacklab.notebook.filters.label_counts` of the (masked) rows, without hashing their values."""
        codes = self.codes[column] if mask is None else self.codes[column][mask]
        positions, labels = self.labels(column)
        return counts_from_codes(positions[codes], labels, column, limit=limit)

    def mask(self, filters: Filters, start: int) -> tuple[np.ndarray, Filters]:
        """The mask of rows ``start:`` for the coded filters, and the filters left to apply with pandas."""
        keep = np.ones(self.n - start, dtype=bool)
        if filters.event_types:
            hit = np.zeros(len(self.uniques["event_type"]) + 1, dtype=bool)
            hit[-1] = NONE_LABEL in filters.event_types  # a missing type
            index = self.index["event_type"]
            for name in filters.event_types:
                if name != NONE_LABEL and index.get(name) is not None:
                    hit[index[name]] = True
            keep &= hit[self.codes["event_type"][start:]]
        for name, wanted in (
            ("channel", filters.channel),
            ("user", filters.user),
            ("team_id", filters.team),
            ("source", filters.source),
        ):
            if wanted is not None:
                code = -1 if wanted == NONE_LABEL else self.index[name].get(wanted, -2)
                keep &= self.codes[name][start:] == code
        rest = filters.replace(event_types=(), channel=None, user=None, team=None, source=None)
        return keep, rest

    def counts_by_type(self, mask: np.ndarray | None) -> pd.DataFrame:
        """:func:`slacklab.table.counts_by_type` of the (masked) rows, by codes (the same function underneath)."""
        positions, labels = self.labels("event_type")
        types = self.codes["event_type"] if mask is None else self.codes["event_type"][mask]
        keys = self.codes["event_key"] if mask is None else self.codes["event_key"][mask]
        retry = self.retry if mask is None else self.retry[mask]
        return counts_by_type_codes(positions[types], labels, keys, len(self.uniques["event_key"]), retry)

    def timeline(self, mask: np.ndarray | None, interval: str) -> pd.DataFrame:
        """:func:`slacklab.notebook.timeline.timeline_counts` of the (masked) rows, by codes."""
        ns = self.ns if mask is None else self.ns[mask]
        timed = ns != np.iinfo("int64").min  # NaT

        def types() -> tuple[pd.Series, np.ndarray, list[str]]:
            positions, labels = self.labels("event_type")
            type_codes = self.codes["event_type"] if mask is None else self.codes["event_type"][mask]
            return self.label_counts("event_type", mask), positions[type_codes[timed]], labels

        return timeline_table(ns[timed], types, interval)
