"""The listener against the simulator over real loopback sockets, checked against ground truth."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from websockets.sync.client import connect as sync_connect

import slacklab
from slacklab.capture import Capture
from slacklab.errors import TokenError
from slacklab.listener import Listener
from slacklab.sim.scenario import ScenarioBuilder, build_scenario
from slacklab.sim.server import Simulator

from .helpers import wait_until

FAST = {"ping_interval": 0.5, "ping_timeout": 0.5, "close_timeout": 0.5, "seed": 1}


def slacklab_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("slacklab") and t.is_alive()]


@pytest.fixture(autouse=True)
def no_thread_left_behind() -> Iterator[None]:
    before = set(slacklab_threads())
    yield
    deadline = time.monotonic() + 5
    while set(slacklab_threads()) - before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert set(slacklab_threads()) - before == set()


def keys(capture: Capture) -> set[str]:
    return set(capture.events()["event_key"])


def assert_exact(capture: Capture, sim: Simulator) -> None:
    """Every event sent is in the events view exactly once; every delivery is a row."""
    truth = sim.truth
    events = capture.events()
    assert set(events["event_key"]) == set(truth.events)
    assert events["event_key"].is_unique
    acked_deliveries = {d["envelope_id"] for d in truth.deliveries if d["acked_at"] is not None}
    assert acked_deliveries <= set(capture.df["envelope_id"])
    assert_rows_match_truth(capture.df, sim)


def assert_rows_match_truth(df: pd.DataFrame, sim: Simulator) -> None:
    """No phantom or doubled rows: each row is one envelope the simulator sent, with its event and attempt."""
    sent = {d["envelope_id"]: d for d in sim.truth.deliveries}
    assert df["envelope_id"].is_unique
    assert set(df["envelope_id"]) <= set(sent)
    for envelope_id, key, kind, attempt in zip(
        df["envelope_id"], df["event_key"], df["kind"], df["retry_attempt"], strict=True
    ):
        assert sent[envelope_id]["event_key"] == key
        if kind == "events_api":  # only events carry retry_attempt in the frame
            assert sent[envelope_id]["retry_attempt"] == attempt


def test_captures_everything_and_acks_fast(tmp_path: Path) -> None:
    scenario = build_scenario(seed=3, events=60, duration=30.0)
    with Simulator(scenario, speed=60, seed=3) as sim:
        listener = Listener(sim.app_token, api_url=sim.api_url, journal=tmp_path / "j.jsonl", **FAST)
        capture = listener.start()
        assert sim.wait_done(timeout=30)
        assert capture.wait_for(60, events=True, timeout=10) == 60
        listener.stop()
        listener.stop()  # idempotent
    assert capture.state == "stopped"
    assert_exact(capture, sim)
    assert sim.truth.summary()["retries"] == 0
    df = capture.df
    assert df["ack_ms"].notna().all() and (df["ack_ms"] < 1000).all()
    assert set(df["kind"]) >= {"events_api", "slash_commands", "interactive"}
    conns = capture.connections()
    assert conns.loc[0, "num_connections"] == 1 and conns.loc[0, "app_id"] == "A0SIMAPP"
    # the journal rebuilds the same frames
    reloaded = slacklab.load(tmp_path / "j.jsonl")
    pd.testing.assert_frame_equal(reloaded.df, df)
    pd.testing.assert_frame_equal(reloaded.events(), capture.events())


def test_overlapped_refreshes_miss_nothing() -> None:
    scenario = build_scenario(seed=5, events=150, duration=120.0)
    with Simulator(scenario, speed=40, seed=5, refresh_interval=25.0) as sim:
        with Listener(sim.app_token, api_url=sim.api_url, **FAST) as capture:
            assert sim.wait_done(timeout=40)
            capture.wait_for(150, events=True, timeout=10)
    assert_exact(capture, sim)
    conns = capture.connections()
    assert len(conns) >= 3  # refreshed at least twice
    reasons = " ".join(conns["close_reason"].dropna())
    assert "warning" in reasons or "refresh_requested" in reasons
    assert capture.problems().empty
    # our own overlapping connection is not "another consumer"
    assert not any("another consumer" in n for n in capture.notes)


@pytest.mark.parametrize(
    "fault",
    ["drop_connection", "go_silent", "send_malformed", "refresh_requested", "too_many_websockets", "made_up_reason"],
)
def test_faults_lose_nothing(fault: str) -> None:
    scenario = build_scenario(seed=7, events=80, duration=40.0)
    with Simulator(scenario, speed=20, seed=7, ack_timeout=1.0) as sim:
        with Listener(sim.app_token, api_url=sim.api_url, **FAST) as capture:
            assert capture.wait_for(15, timeout=20) >= 15
            if fault in ("drop_connection", "go_silent", "send_malformed"):
                assert getattr(sim, fault)()
            else:
                assert sim.disconnect(fault)
            assert sim.wait_done(timeout=40)
            capture.wait_for(80, events=True, timeout=15)
    assert_exact(capture, sim)
    if fault == "send_malformed":
        assert len(capture.problems()) == 1
        assert len(capture.connections()) == 1  # a bad frame is not a reason to reconnect
    else:
        assert len(capture.connections()) >= 2


def test_link_disabled_stops_with_a_plain_reason() -> None:
    with Simulator(build_scenario(seed=1, events=40, duration=20.0), speed=10, seed=1) as sim:
        listener = Listener(sim.app_token, api_url=sim.api_url, **FAST)
        capture = listener.start()
        assert capture.wait_for(3, timeout=20) >= 3
        sim.link_disabled()
        assert wait_until(lambda: capture.state == "stopped", 10)
        assert "Socket Mode was turned off" in capture.detail
        assert not listener.running
        listener.stop()


def test_invalid_token_stops_naming_slacks_error() -> None:
    with Simulator(build_scenario(events=5), speed=10) as sim:
        listener = Listener("xapp-1-A0OTHER-0000-not-the-simulators", api_url=sim.api_url, **FAST)
        capture = listener.start()
        assert wait_until(lambda: capture.state == "failed", 10)
        assert "invalid_auth" in capture.detail
        assert "not-the-simulators" not in repr(capture) + capture.detail
        listener.stop()


def test_ratelimited_waits_for_retry_after() -> None:
    with Simulator(build_scenario(events=5, duration=1.0), speed=10) as sim:
        sim.fail_next_open("ratelimited", retry_after=1)
        t0 = time.monotonic()
        with Listener(sim.app_token, api_url=sim.api_url, **FAST) as capture:
            assert capture.wait_for(5, timeout=15) == 5
            elapsed = time.monotonic() - t0
        assert elapsed >= 1.0
        assert capture.connections().shape[0] == 1


def test_transient_api_error_then_recovery() -> None:
    with Simulator(build_scenario(events=5, duration=1.0), speed=10) as sim:
        sim.fail_next_open("internal_error")
        sim.fail_next_open("internal_error")
        with Listener(sim.app_token, api_url=sim.api_url, **FAST) as capture:
            assert capture.wait_for(5, timeout=20) == 5
        assert sim.stats["api_errors"] == 2


@pytest.mark.parametrize(
    ("token", "message"),
    [
        (None, "SLACK_APP_TOKEN"),
        ("", "SLACK_APP_TOKEN"),
        ("xoxb-1111-fake-bot", "xoxb- token"),
        ("not-a-token-value", "must start with 'xapp-'"),
    ],
)
def test_bad_tokens_are_refused_without_echo(token: str | None, message: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SLACK_APP_TOKEN", raising=False)
    with pytest.raises(TokenError, match=message) as info:
        Listener(token)  # type: ignore[arg-type]
    if token:
        assert token not in str(info.value)
    with pytest.raises(TokenError):
        slacklab.listen(token, simulate=False) if token else slacklab.listen(simulate=False)


def test_acks_stay_on_time_while_the_main_thread_is_busy() -> None:
    scenario = build_scenario(seed=11, events=200, duration=10.0)
    with Simulator(scenario, speed=1, seed=11, ack_timeout=3.0) as sim:
        with Listener(sim.app_token, api_url=sim.api_url, **FAST) as capture:
            assert capture.wait_for(1, timeout=10) >= 1
            # a busy notebook cell: pure-Python work holding the GIL for 10 s
            deadline = time.monotonic() + 10
            n = 0
            while time.monotonic() < deadline:
                n = (n * 31 + 7) % 1_000_003
            assert sim.wait_done(timeout=20)
            capture.wait_for(200, events=True, timeout=10)
    summary = sim.truth.summary()
    assert summary["late_acks"] == 0 and summary["retries"] == 0
    assert_exact(capture, sim)
    assert capture.df["ack_ms"].max() < 1000


def test_rerunning_the_cell_stops_the_previous_listener() -> None:
    with Simulator(build_scenario(events=200, duration=60.0), speed=5) as sim:
        first = Listener(sim.app_token, api_url=sim.api_url, **FAST).start()
        assert first.wait_for(2, timeout=10) >= 2
        second_listener = Listener(sim.app_token, api_url=sim.api_url, **FAST)
        second = second_listener.start()
        assert first.state == "stopped"
        assert any("previous listener" in n for n in second.notes)
        assert second.wait_for(2, timeout=10) >= 2
        second_listener.stop()


def test_another_consumer_is_reported() -> None:
    with Simulator(build_scenario(events=50, duration=30.0), speed=5) as sim:
        with sync_connect(sim.issue_url()) as other:  # e.g. the app's own bot
            assert json.loads(other.recv(timeout=5))["type"] == "hello"
            with Listener(sim.app_token, api_url=sim.api_url, **FAST) as capture:
                assert wait_until(lambda: len(capture.connections()) == 1 and capture.notes, 10)
                assert wait_until(lambda: capture.connections().loc[0, "num_connections"] == 2, 10)
    assert any("another consumer" in n for n in capture.notes)


def test_listen_without_token_uses_the_simulator(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SLACK_APP_TOKEN", raising=False)
    capture = slacklab.listen(events=30, duration=10.0, speed=50, **FAST)
    try:
        assert capture.simulator is not None
        assert any("simulator" in n for n in capture.notes)
        assert capture.wait_for(30, events=True, timeout=20) == 30
    finally:
        capture.stop()
    assert not capture.simulator.running
    assert capture.state == "stopped"


def test_tiny_handmade_scenario_with_retries_deduplicated() -> None:
    b = ScenarioBuilder(seed=2)
    first = b.message(0.0, "=1+1 formula-looking text")
    b.reaction(0.1, first, "tada")
    b.slash(0.2, "/deploy", "api")
    with Simulator(b.build(), speed=10, ack_timeout=0.5) as sim:
        with Listener(sim.app_token, api_url=sim.api_url, **FAST) as capture:
            assert capture.wait_for(1, timeout=10) >= 1
            sim.go_silent()  # acks stop reaching Slack: it retries on the next connection
            assert sim.wait_done(timeout=30)
            capture.wait_for(3, events=True, timeout=10)
    events = capture.events()
    assert len(events) == 3
    assert capture.df["retry_attempt"].max() >= 0
    assert (events["deliveries"] >= 1).all()


def test_refresh_hand_overs_drain_with_zero_retries_and_the_journal_equals_the_live_capture(tmp_path: Path) -> None:
    """The done-when test: ≥ 20 refreshes, traffic on both connections, no retry, journal == live."""
    scenario = build_scenario(seed=13, events=3000, duration=300.0)
    options = {"refresh_interval": 12.0, "refresh_warning": 3.0}
    with Simulator(scenario, speed=40, seed=13, **options) as sim:
        # pings every 5 s: a 0.5 s pong deadline could drop a connection on a loaded machine
        listener = Listener(sim.app_token, api_url=sim.api_url, journal=tmp_path / "j.jsonl", seed=1)
        capture = listener.start()
        assert sim.wait_done(timeout=60)
        assert capture.wait_for(3000, events=True, timeout=15) == 3000
        listener.stop()
    summary = sim.truth.summary()
    assert summary["retries"] == 0 and summary["late_acks"] == 0 and summary["lost_events"] == 0
    assert_exact(capture, sim)
    conns = capture.connections()
    assert len(conns) >= 21  # at least 20 hand-overs
    # traffic on both: the old connection still delivered after its replacement said hello
    df = capture.df
    overlapped = 0
    for old, new in zip(conns.itertuples(), conns.iloc[1:].itertuples(), strict=False):
        rows = df[df["connection"] == old.connection]
        overlapped += bool(len(rows) and rows["received_at"].max() > new.hello_at)
    assert overlapped >= 10
    # every connection not closed by our stop (up to three open at once: refreshed, warned, new) ended by a refresh
    reasons = [r for r in conns["close_reason"] if "listener stopped" not in r]
    assert len(reasons) >= len(conns) - 3 and all("refresh_requested" in r for r in reasons), reasons
    reloaded = slacklab.load(tmp_path / "j.jsonl")
    live = df.sort_values("envelope_id", ignore_index=True)
    pd.testing.assert_frame_equal(reloaded.df.sort_values("envelope_id", ignore_index=True), live)


def test_frames_journaled_while_stopping_are_recorded_live_too(tmp_path: Path) -> None:
    scenario = build_scenario(seed=17, events=3000, duration=10.0)
    with Simulator(scenario, speed=None, seed=17) as sim:
        listener = Listener(sim.app_token, api_url=sim.api_url, journal=tmp_path / "j.jsonl", **FAST)
        capture = listener.start()
        assert capture.wait_for(300, timeout=20) >= 300
        listener.stop()  # mid-flood
        assert not listener.running
    reloaded = slacklab.load(tmp_path / "j.jsonl")
    assert 300 <= len(reloaded.df) < 3000 + 100
    pd.testing.assert_frame_equal(
        reloaded.df.sort_values("envelope_id", ignore_index=True),
        capture.df.sort_values("envelope_id", ignore_index=True),
    )
