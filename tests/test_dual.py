"""One workspace over both transports, one clock: each failure story against both simulators' ground truth."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest

from slacklab.comparison.both import BothTransports, listen_both
from slacklab.comparison.lineup import Comparison
from slacklab.sim.http_rules import DisableRule
from slacklab.sim.scenario import ScenarioBuilder, build_scenario

from .test_receiver import no_leftover_threads  # noqa: F401 - a fixture

SMALL = dict(events=24, duration=4.0, speed=10.0, seed=5)


@pytest.fixture
def runs(no_leftover_threads: None) -> Iterator[list[BothTransports]]:
    made: list[BothTransports] = []
    yield made
    for run in made:
        run.stop()


def play(
    runs: list[BothTransports], *, settle: float = 30.0, during: Any = None, **kw: Any
) -> tuple[BothTransports, Comparison]:
    run = listen_both(**{**SMALL, **kw})
    runs.append(run)
    if during is not None:
        during(run)
    assert run.wait_done(settle)
    return run, run.compare()


def event_keys(cmp: Comparison, status: str) -> set[str]:
    rows = cmp.events[cmp.events["status"] == status]
    label = status.removeprefix("only_") if status != "matched" else cmp.labels[0]
    return set(rows[f"{label}_event_key"])


def test_one_clock_gives_real_latency_and_the_same_event_time_on_both_sides(runs: list[BothTransports]) -> None:
    run, cmp = play(runs)
    truth = run.truth
    assert len(cmp.matched) == len(run.sim.scenario) and cmp.only_a.empty and cmp.only_b.empty
    for label in ("socket", "http"):
        latency = cmp.matched[f"{label}_latency_s"].dropna()
        assert len(latency) == sum(1 for i in run.sim.scenario if i.kind == "events_api")
        assert (latency > 0).all() and (latency < 2.0).all()  # milliseconds to seconds, never days
    # both transports stamped each event with the same instant, the one the truth says it happened at
    socket_df, http_df = run.socket.df, run.http.df[run.http.df["kind"] == "events_api"]
    both = socket_df.merge(http_df, on="event_id", suffixes=("_s", "_h"))
    assert len(both) and (both["event_time_s"] == both["event_time_h"]).all()
    for key, at in truth.happened.items():
        if key.startswith("A0SIMAPP/"):
            row = socket_df[socket_df["event_key"] == key].iloc[0]
            assert row["event_time"].timestamp() == int(at)
    assert truth.socket.summary()["retries"] == 0 and truth.http.summary()["retries"] == 0
    assert cmp.summary.loc["retries", "socket"] == cmp.summary.loc["retries", "http"] == 0


def test_slow_app_is_retried_on_both_sides_with_their_own_markers(runs: list[BothTransports]) -> None:
    run, cmp = play(runs, slow=(3.6, 4))
    truth = run.truth
    slow = set(run.sim.keys(every=4))
    assert slow and {d["event_key"] for d in truth.socket.retries} == slow
    assert {a["event_key"] for a in truth.http.attempts if a["retry_attempt"]} == slow
    assert truth.socket.summary()["late_acks"] == len(slow) and truth.http.summary()["http_timeouts"] == len(slow)
    assert cmp.summary.loc["retries", "socket"] == cmp.summary.loc["retries", "http"] == len(slow)
    retries = cmp.timeline[cmp.timeline["delivery"] > 1]
    assert set(retries.loc[retries["side"] == "socket", "why"]) == {"retry 1: timeout"}
    assert set(retries.loc[retries["side"] == "http", "why"]) == {"retry 1: http_timeout"}
    assert set(retries["event_key"]) == slow
    # the redelivery comes after Slack's ~3 s on both sides
    assert (retries["after_s"] > 2.9).all()
    assert cmp.dedup.loc["socket", "of which retries"] == cmp.dedup.loc["http", "of which retries"] == len(slow)


def test_app_down_http_retries_on_slacks_schedule_socket_mode_waits(runs: list[BothTransports]) -> None:
    scenario = build_scenario(seed=8, events=24, duration=4.0)
    run, cmp = play(runs, scenario=scenario, retry_delays=(1.0, 40.0, 60.0), down=1.5)
    truth = run.truth
    # HTTP: every first attempt failed (503) while the app was down; events came back on a retry,
    # slash commands and clicks are not retried: never accepted
    assert truth.http.summary()["http_errors"] >= len(scenario)
    not_retried = {str(k) for k in truth.http.keys("failed")}
    assert not_retried and all(k.startswith("trigger:") for k in not_retried)
    assert cmp.summary.loc["not accepted (every answer an error)", "http"] == len(not_retried)
    http_latency = cmp.events["http_latency_s"].dropna()
    assert http_latency.min() >= 3.9  # retry 2, 40 simulated s = 4 wall s after the event
    # Socket Mode: no connection meanwhile, then every envelope once, acked
    assert cmp.summary.loc["time without a connection (s)", "socket"] >= 1.0
    assert truth.socket.summary()["acked_events"] == len(scenario) and cmp.summary.loc["retries", "socket"] == 0
    assert cmp.events["socket_latency_s"].dropna().max() < http_latency.min()


def test_forged_and_stale_requests_are_refused_and_left_out(runs: list[BothTransports]) -> None:
    run, cmp = play(runs, forge={2: "invalid", 5: "stale"})
    forged = run.truth.http.forged
    assert sorted(a["forged"] for a in forged) == ["invalid", "stale"] and {a["status"] for a in forged} == {401}
    sig = cmp.signatures.set_index(["side", "signature"])
    assert sig.loc[("http", "invalid"), "deliveries"] == 1 and sig.loc[("http", "stale"), "deliveries"] == 1
    assert sig.loc[("http", "invalid"), "refused"] and not sig.loc[("http", "valid"), "refused"]
    assert cmp.summary.loc["rejected signatures (not compared)", "http"] == 2
    assert len(cmp.matched) == len(run.sim.scenario)  # the real deliveries still matched
    assert any("bad or stale signature" in line for line in cmp.headline())


def test_events_slack_never_sent_over_http_are_only_socket(runs: list[BothTransports]) -> None:
    run, cmp = play(runs, drop=[1, 7])
    assert event_keys(cmp, "only_socket") == set(run.truth.http.keys("dropped")) and cmp.only_b.empty


def test_another_consumer_takes_a_share_of_the_socket_mode_events(runs: list[BothTransports]) -> None:
    run, cmp = play(runs, other_consumer=True)
    taken = {d["event_key"] for d in run.truth.socket.deliveries if d["connection"] == "other-app-instance"}
    assert taken and event_keys(cmp, "only_http") == taken and cmp.only_a.empty


def test_sustained_failures_disable_http_delivery(runs: list[BothTransports]) -> None:
    scenario = build_scenario(seed=9, events=30, duration=6.0)
    rule = DisableRule(min_events=5)
    run, cmp = play(runs, scenario=scenario, disable=rule, down=5.0)
    http = run.truth.http
    assert http.disabled_at is not None and http.summary()["disabled"] > 0
    never = set(http.keys("disabled")) | set(http.keys("failed"))
    assert event_keys(cmp, "matched") >= set(http.keys("delivered"))
    not_accepted = cmp.events[~cmp.events["http_accepted"] & (cmp.events["http_deliveries"] > 0)]
    assert set(not_accepted["http_event_key"]) | event_keys(cmp, "only_socket") == never


def test_a_refresh_loses_nothing(runs: list[BothTransports]) -> None:
    b = ScenarioBuilder(seed=4)
    for i in range(30):
        b.message(i * 0.2, f"message {i}")
    run = listen_both(b.build(), speed=10.0)
    runs.append(run)
    time.sleep(0.25)
    assert run.refresh()
    assert run.wait_done(30)
    cmp = run.compare()
    assert len(cmp.matched) == 30 and cmp.only_a.empty and cmp.only_b.empty
    assert len(run.socket.connections()) >= 2
    assert isinstance(cmp.offline, pd.DataFrame) and cmp.offline.loc[0, "connections"] >= 2
