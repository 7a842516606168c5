"""Safe CSV export of delivery DataFrames.

What "safe" means here:

* **no secrets**: every text cell goes through :func:`slacklab.redact.mask_text`
  (tokens, the verification ``token`` field, tickets, registered secrets);
* **no spreadsheet formulas**: a cell that starts with ``=``, ``+``, ``-``,
  ``@``, a tab or a carriage return is prefixed with ``'`` so Excel, LibreOffice
  and Google Sheets show it as text instead of running it (OWASP's advice for
  CSV injection). The prefix stays visible; it is the price of safety;
* **stable**: UTF-8, the schema's column order (extra columns after it),
  ISO-8601 UTC timestamps (``2026-11-28T09:15:02.123456Z``);
* **nothing half-written**: the file is written to a temporary name and
  renamed into place.

The result reads back with ``pandas.read_csv(path)`` to the same rows and
columns.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from slacklab.errors import ExportError
from slacklab.redact import mask_text
from slacklab.schema import COLUMNS

__all__ = ["FORMULA_PREFIXES", "safe_cell", "safe_frame", "to_csv"]

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """Mask secrets in a text cell and neutralise a leading formula character."""
    if not isinstance(value, str):
        return value
    value = mask_text(value)
    if value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def _ordered_columns(df: pd.DataFrame, columns: Iterable[str] | None) -> list[str]:
    if columns is not None:
        wanted = list(columns)
        missing = [c for c in wanted if c not in df.columns]
        if missing:
            raise ValueError(f"unknown column(s) {missing}; available: {list(df.columns)}")
        return wanted
    known = [c for c in COLUMNS if c in df.columns]
    return known + [c for c in df.columns if c not in COLUMNS]


def safe_frame(df: pd.DataFrame, columns: Iterable[str] | None = None) -> pd.DataFrame:
    """The exported form of ``df``: chosen columns, ISO-8601 UTC times, safe text cells."""
    out = df.loc[:, _ordered_columns(df, columns)].copy()
    for col in out.columns:
        series = out[col]
        if isinstance(series.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_any_dtype(series):
            utc = series.dt.tz_convert("UTC") if isinstance(series.dtype, pd.DatetimeTZDtype) else series
            out[col] = utc.dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ").where(series.notna(), None)
        elif series.dtype == object or pd.api.types.is_string_dtype(series):
            out[col] = series.map(safe_cell, na_action="ignore")
    return out


def to_csv(
    df: pd.DataFrame,
    path: str | Path,
    *,
    columns: Iterable[str] | None = None,
    overwrite: bool = True,
) -> Path:
    """Write ``df`` as safe CSV at ``path`` and return the path.

    Args:
        df: a deliveries or events DataFrame (any DataFrame works).
        path: destination file; parent folders are created.
        columns: which columns, in which order (default: the schema order).
        overwrite: when False, refuse to replace an existing file.

    Raises:
        ExportError: the file exists and ``overwrite`` is False, or it cannot be written.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise ExportError(f"{path} already exists; pass overwrite=True (or --force) to replace it")
    out = safe_frame(df, columns)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
                out.to_csv(handle, index=False)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise ExportError(f"cannot write {path}: {exc.strerror or exc}") from exc
    return path
