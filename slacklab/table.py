"""Delivery rows → typed pandas DataFrames, and the views derived from them.

* :func:`deliveries_frame` — one row per delivery, columns in
  :data:`slacklab.schema.COLUMNS` order, timestamps tz-aware UTC, the
  ``payload`` column masked JSON text;
* :func:`events_view` — one row per event (``event_key``), with ``deliveries``
  (how many times it arrived) and ``first_received_at``/``last_received_at``;
* :func:`counts_by_type` — deliveries and distinct events per ``event_type``.

Every function accepts any DataFrame in the delivery schema, so captures,
journals reloaded with :func:`slacklab.load` and HTTP logs all work.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import pandas as pd

from .redact import mask_json
from .schema import COLUMNS, DATETIME_COLUMNS, FLOAT_COLUMNS, INT_COLUMNS

__all__ = ["counts_by_type", "deliveries_frame", "empty_frame", "events_view", "payload_json"]


def payload_json(payload: Any) -> str | None:
    """The masked, compact JSON text of a payload (``None`` stays ``None``)."""
    if payload is None:
        return None
    if isinstance(payload, str):
        return payload
    return json.dumps(mask_json(payload), ensure_ascii=False, separators=(",", ":"))


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
    return _typed(df)


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
    ordered = df.sort_values("received_at", kind="stable")
    key = ordered["event_key"].fillna(pd.Series(ordered.index.astype(str), index=ordered.index).radd("row:"))
    grouped = ordered.groupby(key, sort=False)["received_at"]
    stats = pd.DataFrame(
        {
            "deliveries": grouped.size(),
            "first_received_at": grouped.min(),
            "last_received_at": grouped.max(),
        }
    )
    first = ordered[~key.duplicated()]
    first_keys = key[~key.duplicated()]
    out = first.reset_index(drop=True)
    stats = stats.reindex(first_keys.to_numpy())
    for col in stats.columns:
        out[col] = stats[col].to_numpy()
    return out


def counts_by_type(df: pd.DataFrame) -> pd.DataFrame:
    """Deliveries, distinct events and retries per ``event_type``, most frequent first."""
    if df.empty:
        return pd.DataFrame(
            {"deliveries": pd.Series([], dtype="int64"), "events": pd.Series([], dtype="int64"),
             "retries": pd.Series([], dtype="int64")},
            index=pd.Index([], name="event_type"),
        )
    types = df["event_type"].fillna("(none)")
    grouped = df.groupby(types)
    out = pd.DataFrame(
        {
            "deliveries": grouped.size(),
            "events": grouped["event_key"].nunique(),
            "retries": grouped["retry_attempt"].apply(lambda s: int((s.fillna(0) > 0).sum())),
        }
    )
    out.index.name = "event_type"
    return out.sort_values(["deliveries", "events"], ascending=False)
