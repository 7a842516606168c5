"""The tables that say *why* two captures differ (pandas, no I/O), for :class:`slacklab.comparison.lineup.Comparison`.

* :func:`timeline` – every delivery of every compared event: when it came after
  the event happened, and why (first delivery, retry *n* and Slack's reason, or a
  copy without a retry marker);
* :func:`dedup` – what de-duplication on the event key did, per side;
* :func:`signatures` – signature verdicts per side (Socket Mode is not signed: the
  WebSocket itself was authenticated);
* :func:`offline` – time without a live Socket Mode connection (HTTP needs none);
* :func:`fields` – top-level payload keys over matched pairs; :func:`payload_diff` – one pair, field by field;
* :func:`summary` – one metric per row, one column per side.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import numpy as np
import orjson
import pandas as pd

from slacklab.comparison.tables import REJECTED, Side, occurrence

__all__ = ["dedup", "fields", "offline", "payload_diff", "signatures", "summary", "timeline"]

_NOT_SIGNED = "(not signed: WebSocket)"


def timeline(sides: tuple[Side, Side], labels: tuple[str, str]) -> pd.DataFrame:
    """One row per delivery of a compared event, both sides, ordered by ``after_s`` within each event."""
    parts = []
    for label, s in zip(labels, sides, strict=True):
        d = s.deliveries
        if d.empty:
            continue
        # by event numbers and positions, not by grouping on key strings
        keyless = d["event_key"].isna().to_numpy(dtype=bool)
        event = s.groups.event.copy()
        if keyless.any():  # rows without a key take the first keyless event's time
            event[keyless] = event[keyless].min()
        happened = s.events["happened_at"].take(event).reset_index(drop=True)
        codes = pd.factorize(d["event_key"].array, use_na_sentinel=False)[0]  # no key: one group, like dropna=False
        nth = pd.Series(occurrence(codes) + 1, dtype="int64")
        attempt = d["retry_attempt"].fillna(0).astype("int64")
        why = np.where(nth > 1, "copy (no retry marker)", "first delivery").astype(object)
        retried = (attempt > 0).to_numpy()
        if retried.any():
            reason = d["retry_reason"][retried].astype("object").fillna("")
            tries = "retry " + attempt[retried].astype(str) + np.where(reason != "", ": " + reason, "")
            why[retried] = tries.to_numpy(dtype=object)
        parts.append(
            pd.DataFrame(
                {
                    "side": label,
                    "event_key": d["event_key"],
                    "event_type": d["event_type"],
                    "delivery": nth,
                    "retry_attempt": attempt,
                    "why": why,
                    "received_at": d["received_at"],
                    "after_s": (d["received_at"] - pd.to_datetime(happened, utc=True)).dt.total_seconds(),
                    "connection": d["connection"],
                    "http_status": d["http_status"],
                    "signature": d["signature"],
                }
            )
        )
    columns = ["side", "event_key", "event_type", "delivery", "retry_attempt", "why", "received_at", "after_s"]
    if not parts:
        return pd.DataFrame(columns=[*columns, "connection", "http_status", "signature"])
    out = pd.concat(parts, ignore_index=True)
    # sort_values(["received_at", "side"], kind="stable") as one position take
    ns = out["received_at"].array.asi8
    side_rank = pd.factorize(out["side"].to_numpy(dtype=object), sort=True)[0]
    order = np.lexsort((side_rank, ns, ns == np.iinfo("int64").min))
    return out.take(order).reset_index(drop=True)


def dedup(sides: tuple[Side, Side], labels: tuple[str, str]) -> pd.DataFrame:
    """Per side: deliveries, distinct events kept, extra deliveries dropped (retries, and copies without a marker)."""
    rows = []
    for label, s in zip(labels, sides, strict=True):
        d = s.deliveries
        nth = d.groupby("event_key", dropna=False).cumcount()
        extra = nth > 0
        retry = d["retry_attempt"].fillna(0) > 0
        rows.append(
            {
                "side": label,
                "deliveries": len(d),
                "events kept": len(s.events),
                "dropped as duplicates": int(extra.sum()),
                "of which retries": int((extra & retry).sum()),
                "of which copies without a retry marker": int((extra & ~retry).sum()),
                "events delivered more than once": int((s.events["deliveries"] > 1).sum()),
            }
        )
    return pd.DataFrame(rows).set_index("side").astype("int64")


def signatures(sides: tuple[Side, Side], labels: tuple[str, str]) -> pd.DataFrame:
    """Deliveries per signature verdict and side (every row, compared or not); ``refused``: a receiver with the secret says 401."""
    rows = []
    for label, s in zip(labels, sides, strict=True):
        verdicts = s.everything["signature"].astype("object").fillna(_NOT_SIGNED)
        for verdict, n in verdicts.value_counts(sort=False).sort_index().items():
            rows.append({"side": label, "signature": verdict, "deliveries": int(n), "refused": verdict in REJECTED})
    return pd.DataFrame(rows, columns=["side", "signature", "deliveries", "refused"]).astype({"deliveries": "int64"})


def offline(sides: tuple[Side, Side], labels: tuple[str, str]) -> pd.DataFrame:
    """Per side with Socket Mode connections: how long the capture had no live connection, and the longest gap.

    The span runs from the first connection's opening to the last event received
    (or the last close); a connection counts as live from its ``hello`` (or opening)
    to its close.
    """
    rows = []
    for label, s in zip(labels, sides, strict=True):
        conns = s.connections
        if conns is None or conns.empty:
            continue
        start = conns["hello_at"].where(conns["hello_at"].notna(), conns["opened_at"]).astype("datetime64[ns, UTC]")
        end = conns["closed_at"].astype("datetime64[ns, UTC]")
        last = s.everything["received_at"].max() if len(s.everything) else pd.NaT
        span_end = max([t for t in (last, end.max()) if pd.notna(t)], default=start.max())
        end = end.fillna(span_end)
        intervals = sorted(zip(start.dropna(), end[start.notna()], strict=True))
        gaps: list[float] = []
        cursor = intervals[0][0] if intervals else span_end
        for a, b in intervals:
            if a > cursor:
                gaps.append((a - cursor).total_seconds())
            cursor = max(cursor, b)
        if span_end > cursor:
            gaps.append((span_end - cursor).total_seconds())
        span = (span_end - intervals[0][0]).total_seconds() if intervals else 0.0
        rows.append(
            {
                "side": label,
                "connections": len(conns),
                "span_s": span,
                "offline_s": float(sum(gaps)),
                "longest_gap_s": float(max(gaps, default=0.0)),
            }
        )
    return pd.DataFrame(rows, columns=["side", "connections", "span_s", "offline_s", "longest_gap_s"])


def _keys(payload: Any) -> Iterable[str] | None:
    """The top-level keys of a payload (a dict, or JSON text), else ``None``."""
    if isinstance(payload, dict):
        return payload.keys()
    if not isinstance(payload, str):
        return None
    try:
        data = orjson.loads(payload)  # ~4x json.loads: fields reads every matched payload
    except orjson.JSONDecodeError:
        try:  # what orjson refuses and json takes (NaN, lone surrogates…)
            data = json.loads(payload)
        except ValueError:
            return None
    return data.keys() if isinstance(data, dict) else None


def _flat(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, inner in value.items():
            out.update(_flat(inner, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: value}


def _parsed(payload: Any) -> dict[str, Any]:
    if isinstance(payload, str):
        try:
            payload = json.loads(payload)
        except ValueError:
            return {"(payload)": payload}
    return payload if isinstance(payload, dict) else {}


def payload_diff(a: Any, b: Any, labels: tuple[str, str]) -> pd.DataFrame:
    """The fields (dotted paths, lists kept whole) whose values differ between two payloads."""
    fa, fb = _flat(_parsed(a)), _flat(_parsed(b))
    rows = [
        {"field": key, labels[0]: fa.get(key, "—"), labels[1]: fb.get(key, "—")}
        for key in sorted(set(fa) | set(fb))
        if fa.get(key, _flat) != fb.get(key, _flat)
    ]
    return pd.DataFrame(rows, columns=["field", *labels])


def fields(payloads_a: Iterable[Any], payloads_b: Iterable[Any], pairs: int, labels: tuple[str, str]) -> pd.DataFrame:
    """Top-level payload keys over matched pairs: how many pairs carry each, per side.

    ``payloads_a``/``payloads_b``: the payloads of the ``pairs`` matched pairs on each side
    (in any order: each side is counted on its own).
    """
    la, lb = labels
    counts: dict[str, list[int]] = {}
    for slot_index, payloads in enumerate((payloads_a, payloads_b)):
        for payload in payloads:
            for key in _keys(payload) or ():
                counts.setdefault(key, [0, 0])[slot_index] += 1
    rows = []
    for key, (na, nb) in sorted(counts.items()):
        where = "both" if na and nb else (f"only {la}" if na else f"only {lb}")
        rows.append({"field": key, f"{la}_pairs": na, f"{lb}_pairs": nb, "matched_pairs": pairs, "present": where})
    df = pd.DataFrame(rows, columns=["field", f"{la}_pairs", f"{lb}_pairs", "matched_pairs", "present"])
    order = df["present"].map(lambda p: 0 if p != "both" else 1) if len(df) else df["present"]
    return df.assign(_o=order).sort_values(["_o", "field"], kind="stable").drop(columns="_o").reset_index(drop=True)


def summary(
    lineup: pd.DataFrame,
    sides: tuple[Side, Side],
    labels: tuple[str, str],
    latency: pd.DataFrame,
    offline_table: pd.DataFrame,
) -> pd.DataFrame:
    """Metric × side. Counts are Python ints, seconds floats (``NaN`` when there is nothing to measure)."""
    rows: dict[str, list[Any]] = {}
    matched = lineup[lineup["status"] == "matched"]
    moved = int((matched["order_shift"].fillna(0) != 0).sum()) if len(matched) else 0
    for i, (label, s) in enumerate(zip(labels, sides, strict=True)):
        present = lineup[f"{label}_deliveries"] > 0
        overall = latency[(latency["side"] == label) & (latency["event_type"] == "(all)")].iloc[0]
        off = offline_table[offline_table["side"] == label]
        values: dict[str, Any] = {
            "deliveries compared": len(s.deliveries),
            "events": int(present.sum()),
            "matched": len(matched),
            "only here": int((lineup["status"] == f"only_{label}").sum()),
            "retries": int(lineup[f"{label}_retries"].sum()),
            "duplicates": int(lineup[f"{label}_deliveries"].sum() - present.sum()),
            "not accepted (every answer an error)": int((present & ~lineup[f"{label}_accepted"]).sum()),
            "arrived in a different order": moved,
            "other deliveries (not compared)": s.other,
            "rejected signatures (not compared)": s.rejected,
            "latency p50 (s)": float(overall["p50_s"]),
            "latency p90 (s)": float(overall["p90_s"]),
            "latency p99 (s)": float(overall["p99_s"]),
            "latency max (s)": float(overall["max_s"]),
            "time without a connection (s)": float(off["offline_s"].iloc[0]) if len(off) else np.nan,
        }
        for on in ("event_id", "trigger_id", "content"):
            values[f"matched on {on}"] = int((matched["matched_on"] == on).sum())
        for metric, value in values.items():
            rows.setdefault(metric, [None, None])[i] = value
    out = pd.DataFrame.from_dict(rows, orient="index", columns=list(labels), dtype=object)
    out.index.name = "metric"
    return out
