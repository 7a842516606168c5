"""The typed, columnar, append-only store behind :class:`~slacklab.capture.Capture`.

Rows become **immutable Arrow record batches** with one declared schema
(:data:`ARROW_SCHEMA`), whatever made them: the live listener, :func:`slacklab.load`
of a journal or an HTTP log, a Parquet archive, an empty capture. The pandas form
of the same schema is :data:`PANDAS_DTYPES`; :func:`to_frame` is the one place an
Arrow table becomes a DataFrame, so every capture's ``df`` has the same dtypes:

==========================  ===========================  ==========================
columns                     Arrow / Parquet              pandas
==========================  ===========================  ==========================
text (ids, text, payload)   ``large_string``             ``str`` (Arrow-backed, NaN for missing)
``received_at``, ``event_time``  ``timestamp[us, UTC]``  ``datetime64[ns, UTC]``
``retry_attempt``, ``http_status``  ``int64``            ``Int64``
``ack_ms``, ``response_ms`` ``float64``                  ``float64``
flags (``replayed``…)       ``bool``                     ``boolean``
==========================  ===========================  ==========================

Times are kept to the microsecond, so a Parquet file or DuckDB gives back exactly
the same values. Snapshots never share writable memory with the store: text columns
wrap the immutable Arrow buffers (pandas copies on write), number columns are fresh
arrays concatenated from per-batch caches. A :class:`ChunkList` only grows by whole
batches, and replaces its state in one assignment, so an interrupted reader never
loses or doubles a row.

Next: :class:`~slacklab.capture.Capture` uses this; :mod:`slacklab.archive` writes
the same batches to Parquet.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from slacklab.redact import mask_json_text, mask_text
from slacklab.schema import BOOL_COLUMNS, COLUMNS, DATETIME_COLUMNS, FLOAT_COLUMNS, INT_COLUMNS

__all__ = [
    "ARROW_SCHEMA",
    "PANDAS_DTYPES",
    "TEXT_DTYPE",
    "Chunk",
    "ChunkList",
    "chunk_from_batch",
    "chunk_from_rows",
    "chunks_from_table",
    "conform",
    "payload_json",
    "rows_to_batch",
    "to_frame",
]

TEXT_DTYPE = pd.StringDtype("pyarrow", na_value=np.nan)
"""Text columns: pandas' ``str`` dtype backed by Arrow, with NaN for a missing value."""

_TIME = pa.timestamp("us", tz="UTC")


def _arrow_type(column: str) -> pa.DataType:
    if column in DATETIME_COLUMNS:
        return _TIME
    if column in INT_COLUMNS:
        return pa.int64()
    if column in FLOAT_COLUMNS:
        return pa.float64()
    if column in BOOL_COLUMNS:
        return pa.bool_()
    return pa.large_string()


def _pandas_dtype(column: str) -> Any:
    if column in DATETIME_COLUMNS:
        return pd.DatetimeTZDtype("ns", "UTC")
    if column in INT_COLUMNS:
        return pd.Int64Dtype()
    if column in FLOAT_COLUMNS:
        return np.dtype("float64")
    if column in BOOL_COLUMNS:
        return pd.BooleanDtype()
    return TEXT_DTYPE


ARROW_SCHEMA = pa.schema([pa.field(c, _arrow_type(c)) for c in COLUMNS])
"""The delivery schema as Arrow (and Parquet) types, columns in :data:`slacklab.schema.COLUMNS` order."""
PANDAS_DTYPES: dict[str, Any] = {c: _pandas_dtype(c) for c in COLUMNS}
"""The delivery schema as pandas dtypes: what every ``capture.df`` has."""
_TEXT = [c for c in COLUMNS if PANDAS_DTYPES[c] is TEXT_DTYPE]
_NUMERIC = [c for c in COLUMNS if PANDAS_DTYPES[c] is not TEXT_DTYPE]


def payload_json(payload: Any) -> str | None:
    """The masked, compact JSON text of a payload (``None`` stays ``None``; text is masked as text)."""
    if payload is None:
        return None
    if isinstance(payload, str):
        return mask_text(payload)
    return mask_json_text(payload)


def _text_array(values: Sequence[Any]) -> pa.Array:
    try:
        return pa.array(values, pa.large_string())
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # an id that arrived as a number or object
        return pa.array([None if v is None else str(v) for v in values], pa.large_string())


def _seconds(values: Sequence[Any]) -> np.ndarray:
    out = np.empty(len(values), dtype="float64")
    for i, v in enumerate(values):
        out[i] = v if isinstance(v, int | float) and not isinstance(v, bool) else np.nan
    return out


def _column(column: str, values: Sequence[Any]) -> pa.Array:
    """One column of a batch, every value checked (the careful path)."""
    if column == "payload":
        return _text_array([payload_json(v) for v in values])
    if column == "text":
        return _text_array([mask_text(v) if v.__class__ is str else v for v in values])
    if column in DATETIME_COLUMNS:
        seconds = _seconds(values)
        missing = ~np.isfinite(seconds) | (seconds < 0) | (seconds >= 9e9)
        micros = np.round(np.where(missing, 0.0, seconds) * 1e6).astype("int64")
        return pa.array(micros, _TIME, mask=missing)
    if column in INT_COLUMNS:
        return pa.array([v if isinstance(v, int) and not isinstance(v, bool) else None for v in values], pa.int64())
    if column in FLOAT_COLUMNS:
        return pa.array(_seconds(values), pa.float64(), from_pandas=True)
    if column in BOOL_COLUMNS:
        return pa.array([v if isinstance(v, bool) else None for v in values], pa.bool_())
    return _text_array(values)


_CAREFUL = ("payload", "text", *DATETIME_COLUMNS, *FLOAT_COLUMNS)
_ROW_VALUES = operator.itemgetter(*COLUMNS)


def rows_to_batch(rows: Sequence[dict[str, Any]]) -> pa.RecordBatch:
    """Rows made by :func:`slacklab.schema.make_row` → one record batch in :data:`ARROW_SCHEMA`.

    This is where payloads are masked and serialised to JSON text, message text is
    masked, and times are rounded to the microsecond. The plain columns (ids, counts,
    flags) go through Arrow's own converter; a value of the wrong type there sends
    that column down the careful path.
    """
    try:  # rows from make_row hold every column: transpose them in C, not with a .get per cell
        columns: list[Any] = list(zip(*map(_ROW_VALUES, rows), strict=True)) or [()] * len(COLUMNS)
    except KeyError:  # a hand-made row without some columns
        columns = [[r.get(column) for r in rows] for column in COLUMNS]
    arrays = []
    for field, values in zip(ARROW_SCHEMA, columns, strict=True):
        column = field.name
        if column in _CAREFUL:
            arrays.append(_column(column, values))
            continue
        try:  # a list per column into Arrow's converter: ~2x faster than from_pylist over the dicts
            arrays.append(pa.array(values, field.type))
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            arrays.append(_column(column, values))
    return pa.RecordBatch.from_arrays(arrays, schema=ARROW_SCHEMA)


@dataclass(frozen=True, slots=True)
class Chunk:
    """An immutable batch of rows: the Arrow record batch, plus its number columns ready for pandas.

    ``numbers`` maps each number column to ``(values, mask)`` NumPy arrays (``mask``
    is ``None`` for datetimes and floats, which carry NaT/NaN). They are private to
    the chunk: snapshots get concatenated copies.
    """

    batch: pa.RecordBatch
    numbers: dict[str, tuple[np.ndarray, np.ndarray | None]]

    def __len__(self) -> int:
        return int(self.batch.num_rows)


def _numbers(array: pa.Array, column: str) -> tuple[np.ndarray, np.ndarray | None]:
    if column in DATETIME_COLUMNS:
        return array.to_numpy(zero_copy_only=False).astype("datetime64[ns]"), None
    if column in FLOAT_COLUMNS:
        return array.to_numpy(zero_copy_only=False).astype("float64"), None
    fill = False if column in BOOL_COLUMNS else 0
    values = array.fill_null(fill).to_numpy(zero_copy_only=False)
    return values, array.is_null().to_numpy(zero_copy_only=False)


def chunk_from_batch(batch: pa.RecordBatch) -> Chunk:
    """A :class:`Chunk` from a record batch in the delivery schema (cast to it if needed)."""
    if batch.schema != ARROW_SCHEMA:
        batches = conform(pa.Table.from_batches([batch])).combine_chunks().to_batches()
        batch = batches[0] if batches else pa.RecordBatch.from_pylist([], schema=ARROW_SCHEMA)
    return Chunk(batch, {c: _numbers(batch.column(c), c) for c in _NUMERIC})


def chunks_from_table(table: pa.Table | pa.RecordBatchReader) -> list[Chunk]:
    """The chunks of an Arrow table or stream (from Parquet, DuckDB…), conformed to the delivery schema."""
    if isinstance(table, pa.RecordBatchReader):
        table = table.read_all()
    return [chunk_from_batch(b) for b in conform(table).to_batches() if b.num_rows]


def chunk_from_rows(rows: Sequence[dict[str, Any]]) -> Chunk:
    """A :class:`Chunk` from rows made by :func:`slacklab.schema.make_row`."""
    return chunk_from_batch(rows_to_batch(rows))


def conform(table: pa.Table) -> pa.Table:
    """``table`` with exactly the delivery columns and types (missing columns null, extras dropped).

    For tables read back from Parquet or DuckDB (which may say ``string`` for
    ``large_string`` or ``timestamp[ns]`` for ``timestamp[us]``).
    """
    columns = []
    for field in ARROW_SCHEMA:
        if field.name in table.column_names:
            columns.append(table.column(field.name).cast(field.type))
        else:
            columns.append(pa.nulls(table.num_rows, field.type))
    return pa.Table.from_arrays(columns, schema=ARROW_SCHEMA)


def _frame(chunks: Sequence[Chunk], start: int) -> pd.DataFrame:
    data: dict[str, Any] = {}
    for column in COLUMNS:
        if column in _NUMERIC:
            parts = [c.numbers[column] for c in chunks]
            values = np.concatenate([p[0] for p in parts]) if parts else _empty_numbers(column)[0]
            if column in DATETIME_COLUMNS:
                data[column] = pd.Series(values, copy=False).dt.tz_localize("UTC")
            elif column in FLOAT_COLUMNS:
                data[column] = values
            else:
                mask = np.concatenate([p[1] for p in parts]) if parts else _empty_numbers(column)[1]
                kind = pd.arrays.IntegerArray if column in INT_COLUMNS else pd.arrays.BooleanArray
                data[column] = kind(values, mask)
        else:
            arrays = [c.batch.column(column) for c in chunks]
            data[column] = TEXT_DTYPE.__from_arrow__(pa.chunked_array(arrays, pa.large_string()))
    df = pd.DataFrame(data, copy=False)
    df.index = pd.RangeIndex(start, start + len(df))
    return df


def _empty_numbers(column: str) -> tuple[np.ndarray, np.ndarray]:
    dtype = {"d": "datetime64[ns]", "f": "float64", "i": "int64", "b": "bool"}[
        "d" if column in DATETIME_COLUMNS else "f" if column in FLOAT_COLUMNS else "i" if column in INT_COLUMNS else "b"
    ]
    return np.empty(0, dtype=dtype), np.empty(0, dtype=bool)


def to_frame(data: pa.Table | pa.RecordBatch | Iterable[Chunk], start: int = 0) -> pd.DataFrame:
    """The deliveries DataFrame (dtypes :data:`PANDAS_DTYPES`) of an Arrow table or chunks.

    ``start`` numbers the first row of the index (a capture keeping its last rows
    numbers them from their position in the whole capture).
    """
    if isinstance(data, pa.Table | pa.RecordBatch):
        table = data if isinstance(data, pa.Table) else pa.Table.from_batches([data])
        chunks = chunks_from_table(table)
    else:
        chunks = list(data)
    return _frame(chunks, start)


class ChunkList:
    """The store's rows: an append-only sequence of immutable chunks.

    :attr:`state` is one tuple ``(chunks, dropped, built_seq, built_queued)``,
    replaced by a single assignment, so a reader always sees a consistent
    store: ``dropped`` rows (older than ``keep_rows``, already in the archive) are
    no longer in memory; ``built_seq``/``built_queued`` say which queued items the
    chunks already hold (see :mod:`slacklab.ingest`). Small trailing chunks are
    merged as they accumulate, so a snapshot walks few pieces. Writers are
    serialised by the caller.
    """

    MERGE_BELOW = 65_536  # rows: trailing chunks smaller than this are merged …
    MERGE_COUNT = 16  # … once this many have piled up

    def __init__(self) -> None:
        self.state: tuple[tuple[Chunk, ...], int, int, int] = ((), 0, 0, 0)

    @staticmethod
    def total(state: tuple[tuple[Chunk, ...], int, int, int]) -> int:
        """Rows in ``state``, dropped ones included."""
        return state[1] + sum(len(c) for c in state[0])

    def __len__(self) -> int:
        return self.total(self.state)

    def append(self, chunk: Chunk | None, built: tuple[int, int] | None = None) -> None:
        """Add ``chunk`` (if any) at the end and record ``built`` — in one assignment."""
        chunks, dropped, seq, queued = self.state
        if built is not None:
            seq, queued = built
        if chunk is not None and len(chunk):
            chunks = (*chunks, chunk)
            small = 0
            while small < len(chunks) and len(chunks[-1 - small]) < self.MERGE_BELOW:
                small += 1
            if small >= self.MERGE_COUNT:
                tail = pa.Table.from_batches([c.batch for c in chunks[-small:]]).combine_chunks()
                chunks = (*chunks[:-small], chunk_from_batch(tail.to_batches()[0]))
        self.state = (chunks, dropped, seq, queued)

    def drop_before(self, keep_rows: int, archived: int) -> None:
        """Forget whole chunks from the front while ``keep_rows`` rows stay and the dropped ones are archived."""
        chunks, dropped, seq, queued = self.state
        held = sum(len(c) for c in chunks)
        n = 0
        while n < len(chunks) and held - len(chunks[n]) >= keep_rows and dropped + len(chunks[n]) <= archived:
            held -= len(chunks[n])
            dropped += len(chunks[n])
            n += 1
        if n:
            self.state = (chunks[n:], dropped, seq, queued)

    def table(self, first: int = 0) -> pa.Table:
        """Rows from position ``first`` (in the whole capture) to the end, as one Arrow table (no copy)."""
        chunks, dropped = self.state[:2]
        table = pa.Table.from_batches([c.batch for c in chunks], schema=ARROW_SCHEMA)
        return table.slice(max(0, first - dropped))

    def frame(
        self, last: int | None = None, state: tuple[tuple[Chunk, ...], int, int, int] | None = None
    ) -> pd.DataFrame:
        """A fresh DataFrame of the rows in memory (or only the ``last`` ones)."""
        chunks, dropped = (state or self.state)[:2]
        held = sum(len(c) for c in chunks)
        if last is None or last >= held:
            return _frame(chunks, dropped)
        skip = held - last
        kept: list[Chunk] = []
        for chunk in chunks:
            if skip >= len(chunk):
                skip -= len(chunk)
                continue
            if skip:
                numbers = {c: (v[skip:], None if m is None else m[skip:]) for c, (v, m) in chunk.numbers.items()}
                chunk = Chunk(chunk.batch.slice(skip), numbers)
                skip = 0
            kept.append(chunk)
        return _frame(kept, dropped + held - last)
