"""Pure rules of the simulated transports: event-time stamping, HTTP retries, disabling, formatting for people."""

from __future__ import annotations

import math
import re

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from slacklab.comparison.report import fmt_seconds, for_people, side_colours
from slacklab.sim.http_rules import RETRY_DELAYS, DisableRule, retry_delay
from slacklab.sim.playback import Playback, happened_at, stamp_times
from slacklab.sim.scenario import ScenarioBuilder


def test_stamp_times_changes_only_event_time_and_event_ts() -> None:
    b = ScenarioBuilder(seed=2)
    msg = b.message(3.0, "hi")
    slash = b.slash(4.0, "/deploy", "x")
    stamped = stamp_times(msg.kind, msg.payload, 1_800_000_000.123456)
    assert stamped["event_time"] == 1_800_000_000 and stamped["event"]["event_ts"] == "1800000000.123456"
    assert stamped["event"]["ts"] == msg.payload["event"]["ts"]  # a message id: replies and reactions point at it
    rest = {k: v for k, v in stamped.items() if k not in ("event_time", "event")}
    assert rest == {k: v for k, v in msg.payload.items() if k not in ("event_time", "event")}
    assert stamp_times(slash.kind, slash.payload, 1.0) == dict(slash.payload)
    assert msg.payload["event_time"] != 1_800_000_000  # the scenario itself is untouched


@given(st.floats(0, 1e5), st.floats(0.01, 1000), st.floats(1e9, 2e9))
def test_happened_at_scales_with_speed(at: float, speed: float, start: float) -> None:
    assert happened_at(start, at, speed) == pytest.approx(start + at / speed)
    assert happened_at(start, at, math.inf) == start


def test_playback_reports_when_each_item_fell_due() -> None:
    b = ScenarioBuilder()
    for at in (0.0, 2.0, 4.0):
        b.message(at, "x")
    pb = Playback(b.build(), speed=2.0)
    pb.start(100.0)
    due = []
    while (found := pb.pop_due_timed(101.5)) is not None:
        due.append(found[1])
    assert due == [100.0, 101.0] and pb.pop_due_timed(101.9) is None
    assert pb.pop_due_timed(110.0) == (b.build()[2], 102.0)


@pytest.mark.parametrize(
    ("kind", "outcome", "no_retry", "attempt", "expected"),
    [
        ("events_api", "ok", False, 0, None),
        ("events_api", "http_timeout", False, 0, 1.0),
        ("events_api", "http_error", False, 1, 60.0),
        ("events_api", "connection_failed", False, 2, 300.0),
        ("events_api", "http_error", False, 3, None),  # three retries, then Slack gives up
        ("events_api", "http_error", True, 0, None),  # X-Slack-No-Retry
        ("events_api", "aborted", False, 0, None),
        ("slash_commands", "http_timeout", False, 0, None),  # the user sees an error instead
        ("interactive", "http_error", False, 0, None),
    ],
)
def test_retry_schedule(kind: str, outcome: str, no_retry: bool, attempt: int, expected: float | None) -> None:
    assert retry_delay(kind, outcome, no_retry, attempt, RETRY_DELAYS) == expected


def test_disable_rule_thresholds() -> None:
    rule = DisableRule(window=60.0, failure_ratio=0.95, min_events=10)
    failing = [(float(i), f"k{i}", False) for i in range(20)]
    assert rule.disabled(failing, 20.0)
    assert not rule.disabled(failing[:9], 20.0)  # fewer events than the exemption
    assert not rule.disabled(failing, 200.0)  # all outside the window
    mostly = failing[:18] + [(18.0, "k18", True), (19.0, "k19", True)]
    assert not rule.disabled(mostly, 20.0)  # 90 % failing: under 95 %
    assert not DisableRule().disabled(failing, 20.0)  # Slack's exemption: under 1,000 events an hour


@given(st.lists(st.tuples(st.floats(0, 100), st.integers(0, 30), st.booleans()), max_size=60))
def test_disable_rule_never_fires_when_a_twentieth_succeeds(raw: list[tuple[float, int, bool]]) -> None:
    attempts = [(t, f"k{k}", ok) for t, k, ok in raw]
    rule = DisableRule(window=1000.0, min_events=1)
    ok_share = sum(ok for *_, ok in attempts) / len(attempts) if attempts else 1.0
    if ok_share >= 0.05:
        assert not rule.disabled(attempts, 100.0)


@given(st.floats(allow_nan=False, allow_infinity=False, min_value=-1e9, max_value=1e9))
def test_seconds_read_as_people_write_them(x: float) -> None:
    text = fmt_seconds(x)
    assert "e+" not in text and "e-" not in text
    assert re.fullmatch(r"-?[\d.]+ (ms|s|min|h|days)", text)
    assert fmt_seconds(float("nan")) == fmt_seconds(None) == "—"


def test_tables_for_people_keep_integers_integers() -> None:
    df = pd.DataFrame({"events": [80, 3], "p50_s": [0.0123, 1.5], "max_s": [float("nan"), 400.0]}, index=["a", "b"])
    shown = for_people(df)
    assert list(shown["events"]) == ["80", "3"] and list(shown["p50"]) == ["12 ms", "1.50 s"]
    assert list(shown["max"]) == ["—", "6.7 min"]  # the cells say their unit, so the header drops `_s`
    assert list(shown.columns) == ["events", "p50", "max"]
    summary = pd.DataFrame({"x": [80, 2.875923e07]}, index=["events", "latency p50 (s)"], dtype=object)
    assert list(for_people(summary, index_seconds=True)["x"]) == ["80", "332.9 days"]
    assert side_colours(["http", "socket"]) == {"http": "#e07b24", "socket": "#2f6ea8"}
