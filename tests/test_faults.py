"""Fault matrix over real loopback sockets, each case checked against the simulator's ground truth.

``tests/test_listener.py`` already runs the single-fault cases (TCP drop, a peer
that stops answering pings, ``refresh_requested``, ``too_many_websockets``, a
made-up reason, one malformed frame, ``link_disabled``, ``invalid_auth``,
``ratelimited``). This file adds the cases that need more than one fault or
more than one client: a refresh with and without a prior ``warning``, an API
that rate-limits then rejects the token, ten connections sharing the app's
events, envelopes withheld by another consumer, a stream of malformed frames,
``link_disabled`` with what was acked kept, and an HTTP receiver restarted
while Slack's simulated HTTP side retries.

The check is always the same: every event sent is in the events view exactly
once, and every delivery acked on the listener's connections is a row of the
deliveries view (no phantom or doubled rows either).
"""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pandas as pd
import pytest

import slacklab
from slacklab.capture import Capture
from slacklab.http.logs import read_http_log
from slacklab.http.receiver import HttpReceiver
from slacklab.listener import Listener
from slacklab.sim.http_sender import FAKE_SIGNING_SECRET, HttpDelivery
from slacklab.sim.scenario import build_scenario
from slacklab.sim.server import Simulator

from .helpers import wait_until
from .test_listener import FAST, assert_exact, assert_rows_match_truth, no_thread_left_behind  # noqa: F401
from .test_receiver import no_leftover_threads  # noqa: F401 - a fixture
from .test_simulator import RawClient, open_url

pytestmark = pytest.mark.timeout(90)


def sim_ids(capture: Capture) -> set[str]:
    """The simulator's ids (``s1``…) of the listener's connections, from each ``hello``'s host."""
    hosts = capture.connections()["host"].dropna()
    return {h.removeprefix("applink-sim-") for h in hosts}


def open_conns(sim: Simulator) -> list[str]:
    return [c.id for c in sim.connections if c.state == "open"]


# ------------------------------------------------------------------ refreshes


@pytest.mark.parametrize("warning_first", [False, True], ids=["refresh_only", "warning_then_refresh"])
def test_refresh_replaces_the_connection_once_and_without_a_gap(warning_first: bool) -> None:
    scenario = build_scenario(seed=21, events=120, duration=30.0)
    with Simulator(scenario, speed=20, seed=21, ack_timeout=1.0) as sim:
        with Listener(sim.app_token, api_url=sim.api_url, **FAST) as capture:
            assert capture.wait_for(20, timeout=20) >= 20
            (old,) = open_conns(sim)
            if warning_first:
                assert sim.disconnect("warning", old) == [old]
            assert sim.disconnect("refresh_requested", old) == [old]
            assert sim.wait_done(timeout=40)
            capture.wait_for(120, events=True, timeout=15)
    assert_exact(capture, sim)
    conns = capture.connections()
    assert len(conns) == 2  # one replacement, even when two disconnect frames asked for it
    first, second = conns.iloc[0], conns.iloc[1]
    assert second["hello_at"] <= first["closed_at"]  # the new one was live before the old one closed
    assert "refresh_requested" in first["close_reason"]
    assert capture.problems().empty
    assert sim.truth.summary()["lost_events"] == 0


# ------------------------------------------------------------ Web API errors


def test_ratelimited_then_invalid_auth_fails_cleanly_naming_the_error(tmp_path: Path) -> None:
    journal = tmp_path / "j.jsonl"
    with Simulator(build_scenario(events=5, duration=1.0), speed=10) as sim:
        sim.fail_next_open("ratelimited", retry_after=1)
        sim.fail_next_open("invalid_auth")
        listener = Listener(sim.app_token, api_url=sim.api_url, journal=journal, **FAST)
        started = time.monotonic()
        capture = listener.start()
        assert wait_until(lambda: "rate limited" in capture.detail, 5)
        assert capture.state == "reconnecting"
        assert wait_until(lambda: capture.state == "failed", 10)
        assert time.monotonic() - started >= 1.0  # Retry-After was honoured
        assert "invalid_auth" in capture.detail and "SLACK_APP_TOKEN" in capture.detail
        assert wait_until(lambda: not listener.running, 5)
        time.sleep(0.3)
        assert sim.stats["api_calls"] == 2  # no retry after a token error
        assert sim.connections == []
        capture.stop()
        capture.stop()  # idempotent
        assert capture.state == "failed"
        assert listener.error is None  # a decision, not a crash
    notes = " ".join(slacklab.load(journal).notes)
    assert "rate limited" in notes and "invalid_auth" in notes


# ------------------------------------------------------------ ten connections


def test_ten_connections_share_the_events_the_eleventh_is_refused_and_a_refresh_at_the_limit_recovers() -> None:
    """Slack's limit is 10 connections per app: 9 other consumers (raw clients) plus the listener."""
    with Simulator([], speed=20, seed=31) as sim:
        others = [RawClient(open_url(sim)) for _ in range(9)]
        try:
            for n, other in enumerate(others, start=1):
                assert other.next_of("hello")["num_connections"] == n
            with Listener(sim.app_token, api_url=sim.api_url, **FAST) as capture:
                assert sim.wait_connections(10, timeout=10)
                assert wait_until(lambda: len(capture.connections()) == 1 and capture.notes, 10)
                assert capture.connections().loc[0, "num_connections"] == 10
                assert any("another consumer" in n for n in capture.notes)

                eleventh = RawClient(open_url(sim))
                others.append(eleventh)
                assert eleventh.next_frame()["reason"] == "too_many_websockets"
                assert eleventh.wait_closed()

                sim.add(build_scenario(seed=31, events=200, duration=20.0))
                assert sim.wait_done(timeout=40)
                truth = sim.truth
                mine = sim_ids(capture)
                on_mine = {d["envelope_id"] for d in truth.deliveries if d["connection"] in mine}
                assert wait_until(lambda: set(capture.df["envelope_id"]) == on_mine, 10)
                assert {d["connection"] for d in truth.deliveries} == {f"s{n}" for n in range(1, 11)}

                # A refresh at the limit: the replacement is the 11th connection, refused until
                # the old one closes; the listener backs off and gets back in.
                (listener_conn,) = mine
                sim.disconnect("refresh_requested", listener_conn)
                assert wait_until(lambda: len(sim_ids(capture)) == 2, 20)
                assert wait_until(lambda: capture.state == "listening", 10)
                sim.add(build_scenario(seed=32, events=100, duration=5.0))
                assert sim.wait_done(timeout=40)
                ours = sim_ids(capture)
                assert wait_until(
                    lambda: (
                        set(capture.df["envelope_id"])
                        == {d["envelope_id"] for d in sim.truth.deliveries if d["connection"] in ours}
                    ),
                    10,
                )
        finally:
            for other in others:
                other.close()
    truth = sim.truth
    assert truth.summary()["lost_events"] == 0 and truth.summary()["retries"] == 0
    mine = sim_ids(capture)
    assert len(mine) == 2
    owner = {d["envelope_id"]: d["event_key"] for d in truth.deliveries}
    raw_keys = [owner[e["envelope_id"]] for c in others for e in c.envelopes]
    listener_keys = list(capture.events()["event_key"])
    # every event reached exactly one consumer, once
    assert sorted(raw_keys + listener_keys) == sorted(truth.events)
    assert {d["envelope_id"] for d in truth.deliveries if d["connection"] in mine} == set(capture.df["envelope_id"])
    assert_rows_match_truth(capture.df, sim)
    refused = capture.connections()["close_reason"].str.contains("too_many_websockets", na=False)
    assert refused.any()  # the refused replacement is in the connections table, in plain words


# ------------------------------------------------------- withheld acks


def test_envelopes_withheld_by_another_consumer_are_redelivered_to_the_listener() -> None:
    with Simulator([], speed=20, seed=41, ack_timeout=0.5) as sim:
        withholder = RawClient(open_url(sim), ack=False)  # takes a share and never acks
        try:
            withholder.next_of("hello")
            with Listener(sim.app_token, api_url=sim.api_url, **FAST) as capture:
                assert sim.wait_connections(2, timeout=10)
                sim.add(build_scenario(seed=41, events=100, duration=20.0))
                assert wait_until(lambda: len(withholder.envelopes) >= 10, 10)
                time.sleep(0.6)  # some time out and come back while it is still connected
                withholder.close()  # then it gives up: everything it held is redelivered
                assert sim.wait_done(timeout=40)
                capture.wait_for(100, events=True, timeout=10)
        finally:
            withholder.close()
    assert_exact(capture, sim)
    truth = sim.truth
    assert truth.summary()["lost_events"] == 0
    withheld = {e["envelope_id"] for e in withholder.envelopes}
    assert withheld and withheld.isdisjoint(set(capture.df["envelope_id"]))
    statuses = {d["envelope_id"]: d["status"] for d in truth.deliveries}
    assert {statuses[e] for e in withheld} == {"timed_out"}
    retried = capture.df[capture.df["retry_attempt"] > 0]
    assert not retried.empty and set(retried["retry_reason"]) == {"timeout"}
    events = capture.events().set_index("event_key")
    assert (events["deliveries"] == 1).all()  # the listener acked each redelivery the first time


# ------------------------------------------------------- malformed frames

GARBAGE = [
    '{"envelope_id": "sim-malformed", "type": "events_api", "payload": {',  # cut short
    "not json at all",
    "",
    "[1, 2, 3]",
    '"just a string"',
    "null",
    '{"no_type": true}',
    '{"envelope_id": 42, "payload": {}}',
    '{"envelope_id": "", "payload": {}}',
    '{"envelope_id": "bad-payload", "type": "events_api", "payload": [1]}',
    '{"type": "a_frame_from_the_future", "data": 1}',
    "[" * 100_000,  # deeper than the JSON parser's recursion limit
    "\x00\x01\x02 binary-looking text",
    '{"type": "hello", "num_connections": "many"',  # cut-short hello
]


def test_a_stream_of_malformed_frames_loses_nothing_and_keeps_the_connection() -> None:
    scenario = build_scenario(seed=61, events=120, duration=30.0)
    with Simulator(scenario, speed=20, seed=61) as sim:
        with Listener(sim.app_token, api_url=sim.api_url, **FAST) as capture:
            assert capture.wait_for(10, timeout=20) >= 10
            for text in GARBAGE:  # interleaved with the envelopes still flowing
                assert sim.send_malformed(text)
                time.sleep(0.03)
            assert sim.wait_done(timeout=40)
            capture.wait_for(120, events=True, timeout=15)
            assert wait_until(lambda: len(capture.problems()) == len(GARBAGE), 5)
            assert capture.state == "listening"
    assert_exact(capture, sim)
    assert len(capture.connections()) == 1  # garbage is not a reason to reconnect
    assert sim.truth.summary()["retries"] == 0 and sim.truth.summary()["unknown_acks"] == 0
    problems = capture.problems()
    assert problems["problem"].str.len().gt(0).all()
    assert problems["text"].str.len().le(2000).all()  # kept, but bounded


# ------------------------------------------------------- link_disabled


def test_link_disabled_keeps_what_was_acked_and_stops_calling_slack(tmp_path: Path) -> None:
    journal = tmp_path / "j.jsonl"
    with Simulator(build_scenario(seed=71, events=60, duration=30.0), speed=10, seed=71) as sim:
        listener = Listener(sim.app_token, api_url=sim.api_url, journal=journal, **FAST)
        capture = listener.start()
        assert capture.wait_for(10, timeout=20) >= 10
        sim.link_disabled()
        assert wait_until(lambda: capture.state == "stopped", 10)
        assert wait_until(lambda: not listener.running, 5)
        calls = sim.stats["api_calls"]
        time.sleep(0.5)
        assert sim.stats["api_calls"] == calls  # no reconnect attempts
        truth = sim.truth
        listener.stop()
    assert "Socket Mode was turned off" in capture.detail
    acked = {d["envelope_id"] for d in truth.deliveries if d["acked_at"] is not None}
    assert acked and acked <= set(capture.df["envelope_id"])
    assert_rows_match_truth(capture.df, sim)
    assert capture.events()["event_key"].is_unique
    reloaded = slacklab.load(journal)
    assert acked <= set(reloaded.df["envelope_id"])
    assert any("Socket Mode was turned off" in n for n in reloaded.notes)


# ------------------------------------------------------- HTTP receiver restart


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_http_receiver_restarted_while_slack_retries(tmp_path: Path, no_leftover_threads) -> None:
    log = tmp_path / "http.jsonl"
    port = free_port()
    scenario = build_scenario(seed=81, events=80, duration=20.0)
    first = HttpReceiver(port, signing_secret=FAKE_SIGNING_SECRET, log=log)
    cap1 = first.start()
    # 80 items over 2 wall seconds; retries 0.2, 0.5 and 1 s after a failure
    sender = HttpDelivery(scenario, cap1.url, speed=10, timeout=1.0, retry_delays=(2.0, 5.0, 10.0))
    second: HttpReceiver | None = None
    try:
        sender.start()
        assert cap1.wait_for(25, timeout=20) >= 25
        first.stop()  # the app restarts...
        time.sleep(0.3)
        second = HttpReceiver(port, signing_secret=FAKE_SIGNING_SECRET, log=log)
        cap2 = second.start()  # ...on the same port, appending to the same log
        assert sender.wait_done(timeout=40)
    finally:
        sender.close()
        first.stop()
        if second is not None:
            second.stop()
    truth = sender.truth
    assert truth.summary()["connection_failures"] >= 1  # the outage was real
    events_api = {r["event_key"] for r in truth.event_rows if r["kind"] == "events_api"}
    assert events_api <= set(truth.keys("delivered"))  # retries carried every event over the outage
    both = pd.concat([cap1.df, cap2.df], ignore_index=True)
    both = both[both["kind"] != "url_verification"]
    answered = {
        (a["event_key"], a["retry_attempt"])
        for a in truth.attempts
        if a["status"] == 200 and a["kind"] != "url_verification"
    }
    rows = set(zip(both["event_key"], both["retry_attempt"], strict=True))
    assert answered <= rows  # every request answered 200 is a row
    assert set(both["event_key"]) == set(truth.keys("delivered"))
    assert (both["signature"] == "valid").all()
    reloaded = read_http_log(log, FAKE_SIGNING_SECRET)
    again = reloaded.df[reloaded.df["kind"] != "url_verification"]
    assert answered <= set(zip(again["event_key"], again["retry_attempt"], strict=True))
    assert len(reloaded.df) == len(cap1) + len(cap2)
    assert json.loads(log.read_text().splitlines()[0])["k"] == "http"


# ------------------------------------------------------- journal write failure


def test_a_journal_that_cannot_be_written_stops_the_listener_without_acking(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression: a full disk made every frame a reader error: an endless reconnect loop, 'closed normally'."""
    import errno

    from slacklab import listener as listener_module
    from slacklab.journal import JournalWriter

    class FullDisk(JournalWriter):
        """A journal whose disk fills up after a few lines."""

        def __init__(self, path: str | Path) -> None:
            super().__init__(path)
            real, room = self._file, [12]

            class File:
                def write(self, text: str) -> int:
                    room[0] -= 1
                    if room[0] < 0:
                        raise OSError(errno.ENOSPC, "No space left on device")
                    return real.write(text)

                def __getattr__(self, name: str) -> object:
                    return getattr(real, name)

            self._file = File()  # type: ignore[assignment]

    monkeypatch.setattr(listener_module, "JournalWriter", FullDisk)
    journal = tmp_path / "j.jsonl"
    with Simulator(build_scenario(seed=91, events=100, duration=20.0), speed=20, seed=91) as sim:
        listener = Listener(sim.app_token, api_url=sim.api_url, journal=journal, **FAST)
        capture = listener.start()
        assert wait_until(lambda: capture.state == "failed", 15)
        assert wait_until(lambda: not listener.running, 5)
        time.sleep(0.5)
        acked = {d["envelope_id"] for d in sim.truth.deliveries if d["acked_at"] is not None}
        assert len(sim.connections) == 1  # stopped, not a reconnect loop
        listener.stop()
    assert "No space left on device" in capture.detail and "journal" in capture.detail
    assert listener.error is None
    journaled = set(slacklab.load(journal).df["envelope_id"])
    assert acked and acked <= journaled  # nothing acked that is not on disk
    assert acked <= set(capture.df["envelope_id"])
