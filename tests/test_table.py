"""The store's snapshots: built in steps they equal a frame built at once, and earlier ones never change."""

from __future__ import annotations

import random

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from slacklab.capture import Capture
from slacklab.schema import make_row
from slacklab.sim.scenario import build_scenario
from slacklab.store import PANDAS_DTYPES, ChunkList
from slacklab.table import deliveries_frame, empty_frame


def _rows(n: int, seed: int = 0) -> list[dict]:
    items = build_scenario(seed=seed, events=min(n, 200)).items
    out = []
    for i in range(n):
        item = items[i % len(items)]
        payload = dict(item.payload)
        payload["event_id" if item.kind == "events_api" else "trigger_id"] = f"X{i}"
        out.append(
            make_row(
                source="socket",
                kind=item.kind,
                payload=payload,
                received_at=1.7e9 + i,
                connection="c1",
                envelope_id=f"e{i}",
                ack_ms=0.5,
            )
        )
    return out


def test_growing_snapshots_equal_a_frame_built_at_once_and_keep_old_ones() -> None:
    """Chunks of any size, columns all-empty in a chunk: every snapshot has the declared dtypes, no casting."""
    rng = random.Random(1)
    rows = _rows(2500)
    for _trial in range(6):
        cap, done, snapshots = Capture(), [], []
        if rng.random() < 0.5:
            pd.testing.assert_frame_equal(cap.df, empty_frame())  # snapshotted before the first delivery
        i = 0
        while i < len(rows):
            k = rng.choice([1, 3, 40, 700])
            chunk = [dict(r) for r in rows[i : i + k]]
            i += k
            for r in chunk:
                for col in ("thread_ts", "text", "channel", "event_subtype", "retry_reason", "ack_ms"):
                    if rng.random() < 0.6:
                        r[col] = None
            for r in chunk:
                cap.record_delivery(r)
            done += chunk
            got = cap.df
            pd.testing.assert_frame_equal(got, deliveries_frame(done))
            assert dict(got.dtypes) == PANDAS_DTYPES
            snapshots.append((got, len(done)))
        for got, n in snapshots:
            pd.testing.assert_frame_equal(got, deliveries_frame(done[:n]))


def test_small_chunks_are_merged_and_rows_stay_in_order() -> None:
    cap = Capture()
    rows = _rows(600, seed=3)
    for row in rows:
        cap.record_delivery(row)
        cap.df  # one chunk per row until they are merged
    chunks = cap._log.rows.state[0]
    assert len(chunks) < ChunkList.MERGE_COUNT
    assert cap.df["envelope_id"].tolist() == [f"e{i}" for i in range(600)]


def test_capture_snapshots_grow_without_changing_old_ones() -> None:
    cap = Capture()
    rows = _rows(3000, seed=2)
    first = None
    for n, row in enumerate(rows, start=1):
        cap.record_delivery(row)
        if n in (1, 500, 1200, 3000):
            df = cap.deliveries()
            assert len(df) == n and list(df.index) == list(range(n))
            first = first if first is not None else df.copy()
    pd.testing.assert_frame_equal(cap.deliveries(), deliveries_frame(rows))
    assert len(first) == 1


@given(
    st.lists(
        st.tuples(st.one_of(st.none(), st.sampled_from(["a", "b", "c", "d"])), st.integers(min_value=0, max_value=20)),
        max_size=40,
    )
)
@settings(max_examples=200, deadline=None)
def test_events_view_matches_a_plain_groupby(pairs: list[tuple[str | None, int]]) -> None:
    from slacklab.schema import make_row
    from slacklab.table import deliveries_frame, events_view

    rows = []
    for i, (key, t) in enumerate(pairs):
        row = make_row(source="socket", kind="x", payload={}, received_at=1_700_000_000 + t, envelope_id=f"e{i}")
        row["event_key"] = key
        rows.append(row)
    df = deliveries_frame(rows)
    got = events_view(df)
    ordered = df.sort_values("received_at", kind="stable").reset_index(drop=True)
    key = ordered["event_key"].astype(object).where(ordered["event_key"].notna(), "row:" + ordered.index.astype(str))
    expected_keys = list(dict.fromkeys(key))
    assert list(got["envelope_id"]) == [ordered.loc[key.eq(k).idxmax(), "envelope_id"] for k in expected_keys]
    assert list(got["deliveries"]) == [int(key.eq(k).sum()) for k in expected_keys]
    assert list(got["first_received_at"]) == [ordered.loc[key.eq(k), "received_at"].min() for k in expected_keys]
    assert list(got["last_received_at"]) == [ordered.loc[key.eq(k), "received_at"].max() for k in expected_keys]


@given(
    st.lists(
        st.tuples(
            st.one_of(st.none(), st.sampled_from(["message", "/deploy", "x"])),
            st.one_of(st.none(), st.sampled_from(["k1", "k2", "k3"])),
            st.one_of(st.none(), st.integers(min_value=0, max_value=3)),
        ),
        max_size=40,
    )
)
@settings(max_examples=200, deadline=None)
def test_counts_by_type_matches_a_plain_groupby(triples: list[tuple[str | None, str | None, int | None]]) -> None:
    from slacklab.table import counts_by_type

    df = pd.DataFrame(
        {
            "event_type": [t for t, _, _ in triples],
            "event_key": [k for _, k, _ in triples],
            "retry_attempt": pd.array([r for _, _, r in triples], dtype="Int64"),
        }
    )
    got = counts_by_type(df)
    if df.empty:
        assert got.empty
        return
    types = df["event_type"].fillna("(none)")
    for name, group in df.groupby(types):
        assert got.loc[name, "deliveries"] == len(group)
        assert got.loc[name, "events"] == group["event_key"].nunique()
        assert got.loc[name, "retries"] == int((group["retry_attempt"].fillna(0) > 0).sum())
    assert len(got) == types.nunique()
