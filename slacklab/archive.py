"""Parquet on disk: a capture's archive of segments, ``to_parquet``, reading back, and SQL with DuckDB.

* :class:`ParquetArchive` — a folder of Parquet segments (``<run>-000001.parquet``…)
  in :data:`slacklab.store.ARROW_SCHEMA`, written whole (to a hidden temporary
  name, then renamed), so ``duckdb.read_parquet('folder/*.parquet')``, pandas,
  Polars or Spark read the folder as one table at any moment;
* :func:`write_parquet` — any sequence of Arrow tables into one file, atomically;
* :func:`read_parquet` — a file or a folder of segments → one Arrow table in the
  delivery schema;
* :func:`run_sql` — DuckDB over live rows plus segments, as the table ``deliveries``.

Most people call ``capture.to_parquet(path)``, ``slacklab.load(path)`` and
``capture.sql("select …")`` instead.
"""

from __future__ import annotations

import itertools
import os
import tempfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from slacklab.errors import ExportError, LogFormatError, SlacklabError
from slacklab.store import ARROW_SCHEMA, conform

__all__ = ["PARQUET_MAGIC", "ParquetArchive", "read_parquet", "run_sql", "write_parquet"]

PARQUET_MAGIC = b"PAR1"
"""The first four bytes of every Parquet file."""
COMPRESSION = "zstd"  # about as fast as snappy to write here and a third smaller (benchmarks/bench_million.py)
_SEQ = itertools.count(1)


def write_parquet(tables: Iterable[pa.Table], path: str | Path) -> Path:
    """Write ``tables`` (delivery schema) one after the other into the Parquet file ``path``.

    The file appears whole or not at all (temporary name, then renamed).

    Raises:
        ExportError: it cannot be written.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
        try:
            with pq.ParquetWriter(tmp, ARROW_SCHEMA, compression=COMPRESSION) as writer:
                for table in tables:
                    if table.num_rows:
                        writer.write_table(conform(table))
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise ExportError(f"cannot write {path}: {exc.strerror or exc}") from exc
    return path


def _files(path: Path) -> list[Path]:
    return sorted(p for p in path.glob("*.parquet") if not p.name.startswith("."))


def read_parquet(path: str | Path) -> pa.Table:
    """A Parquet file, or a folder of Parquet segments, as one table in the delivery schema.

    Raises:
        LogFormatError: missing, not Parquet, or an empty folder.
    """
    path = Path(path)
    files = _files(path) if path.is_dir() else [path]
    if not files:
        raise LogFormatError(path, None, "a folder without .parquet files")
    tables = []
    for file in files:
        try:
            tables.append(conform(pq.read_table(file)))
        except (OSError, pa.ArrowException) as exc:
            raise LogFormatError(file, None, f"cannot read it as Parquet ({exc})") from exc
    return pa.concat_tables(tables) if tables else ARROW_SCHEMA.empty_table()


class ParquetArchive:
    """A folder of Parquet segments that a capture writes its older rows to.

    Args:
        folder: created if needed; segments already there (earlier runs) are left alone,
            and this archive's own segments are named after this run so they never clash.
    """

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ExportError(f"cannot create the archive folder {self.folder}: {exc.strerror or exc}") from exc
        self._run = f"{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}-{next(_SEQ)}"
        self.segments: list[Path] = []
        """This archive's segments, oldest first."""
        self.rows = 0
        """Rows written to :attr:`segments`."""

    def write(self, table: pa.Table) -> Path:
        """Write ``table`` as the next segment and return its path."""
        path = self.folder / f"{self._run}-{len(self.segments) + 1:06d}.parquet"
        write_parquet([table], path)
        self.segments.append(path)
        self.rows += table.num_rows
        return path

    def __repr__(self) -> str:
        return f"<ParquetArchive {str(self.folder)!r}: {self.rows:,} rows in {len(self.segments)} segments>"


def run_sql(query: str, live: pa.Table, segments: Sequence[Path] = ()) -> pd.DataFrame:
    """Run ``query`` with DuckDB, where ``deliveries`` is ``segments`` followed by ``live``.

    Raises:
        SlacklabError: DuckDB is not installed (``pip install 'slacklab[sql]'``).
    """
    try:
        import duckdb
    except ImportError:
        raise SlacklabError("capture.sql() needs DuckDB: pip install 'slacklab[sql]' (or pip install duckdb)") from None
    con = duckdb.connect()
    try:
        con.register("slacklab_live", live)
        source = "select * from slacklab_live"
        if segments:
            files = ", ".join("'" + str(p).replace("'", "''") + "'" for p in segments)
            source = f"select * from read_parquet([{files}]) union all {source}"
        con.execute(f"create temporary view deliveries as {source}")
        return con.sql(query).df()
    finally:
        con.close()
