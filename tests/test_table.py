"""FrameAppender: appending gives exactly pd.concat's frame, and earlier snapshots never change."""

from __future__ import annotations

import random

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from slacklab.capture import Capture
from slacklab.schema import make_row
from slacklab.sim.scenario import build_scenario
from slacklab.table import FrameAppender, deliveries_frame, empty_frame


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


def test_appending_equals_concat_and_keeps_old_snapshots() -> None:
    rng = random.Random(1)
    rows = _rows(2500)
    for _trial in range(8):
        appender, expected, snapshots = FrameAppender(), None, []
        start = empty_frame() if rng.random() < 0.5 else None
        if start is not None:
            appender.append(start)
            expected = start
        i = 0
        while i < len(rows):
            k = rng.choice([1, 3, 40, 700])
            chunk = [dict(r) for r in rows[i : i + k]]
            i += k
            for r in chunk:  # columns that are all empty in a chunk come out as object, not str
                for col in ("thread_ts", "text", "channel", "event_subtype", "retry_reason"):
                    if rng.random() < 0.6:
                        r[col] = None
            part = deliveries_frame(chunk)
            got = appender.append(part)
            expected = part if expected is None else pd.concat([expected, part], ignore_index=True)
            pd.testing.assert_frame_equal(got, expected)
            snapshots.append((got, expected.copy()))
        for got, want in snapshots:
            pd.testing.assert_frame_equal(got, want)


def test_unsupported_columns_fall_back_to_concat() -> None:
    appender = FrameAppender()
    a = pd.DataFrame({"x": pd.Categorical(["a", "b"]), "y": [1, 2]})
    b = pd.DataFrame({"x": pd.Categorical(["b", "c"]), "y": [3, 4]})
    appender.append(a)
    pd.testing.assert_frame_equal(appender.append(b), pd.concat([a, b], ignore_index=True))


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

    def plain(df: pd.DataFrame) -> pd.DataFrame:  # missing is missing, whether None or NaN
        return df.astype(object).where(df.notna(), None)

    pd.testing.assert_frame_equal(plain(cap.deliveries()), plain(deliveries_frame(rows)))
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
