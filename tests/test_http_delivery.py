"""Simulated Slack HTTP side: bodies, signing, url_verification, the 3 s rule, retries, No-Retry, drops."""

from __future__ import annotations

import json
import socket
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest

from slacklab.capture import Capture
from slacklab.http.logs import exact_body
from slacklab.http.receiver import HttpReceiver, Reply
from slacklab.http.signing import verify
from slacklab.sim.http_sender import FAKE_SIGNING_SECRET, HttpDelivery, encode_body
from slacklab.sim.scenario import ScenarioBuilder, ScenarioItem, build_scenario

from .helpers import block_action_payload, event_payload, slash_payload, wait_until
from .test_receiver import no_leftover_threads  # noqa: F401 - a fixture

FAST = dict(speed=1000.0, timeout=0.3)  # retries after 1 ms, 60 ms, 300 ms of wall time


def events(n: int = 3) -> list[ScenarioItem]:
    return [ScenarioItem(i * 0.001, "events_api", event_payload(f"Ev{i}")) for i in range(n)]


def run(items: Any, cap: Capture, expected_rows: int, **kw: Any) -> HttpDelivery:
    """Deliver ``items`` to the receiving ``cap`` and wait until it holds ``expected_rows`` rows."""
    with HttpDelivery(items, cap.url, **{**FAST, **kw}) as sender:
        assert sender.wait_done(timeout=20)
    cap.wait_for(expected_rows, timeout=10)
    return sender


class TestBodies:
    def test_events_are_json(self) -> None:
        body, ctype = encode_body("events_api", event_payload("Ev1", text="Grüße"))
        assert ctype == "application/json" and json.loads(body)["event_id"] == "Ev1"

    def test_slash_commands_are_forms(self) -> None:
        body, ctype = encode_body("slash_commands", {**slash_payload(), "text": "=1+1 & more", "flag": False})
        form = parse_qs(body.decode(), keep_blank_values=True)
        assert ctype == "application/x-www-form-urlencoded"
        assert form["command"] == ["/deploy"] and form["text"] == ["=1+1 & more"] and form["flag"] == ["false"]

    def test_interactivity_is_a_payload_form(self) -> None:
        body, _ = encode_body("interactive", block_action_payload("1.2.3"))
        assert json.loads(parse_qs(body.decode())["payload"][0])["trigger_id"] == "1.2.3"


class TestDelivery:
    def test_every_request_is_signed_and_verified_first(self, no_leftover_threads) -> None:
        with HttpReceiver(signing_secret=FAKE_SIGNING_SECRET) as cap:
            sender = run(events(2), cap, 3)
        df = cap.df
        assert df.kind.iloc[0] == "url_verification" and set(df.signature) == {"valid"}
        truth = sender.truth
        assert truth.url_verified is True and truth.summary()["delivered"] == 2
        assert truth.attempts[0]["kind"] == "url_verification"

    def test_slow_answer_is_a_timeout_and_is_retried(self, no_leftover_threads) -> None:
        slow_once = respond_once(lambda row: row["event_id"] == "Ev1", Reply(delay=0.6))
        with HttpReceiver(respond=slow_once) as cap:
            sender = run(events(3), cap, 5)
        tries = [a for a in sender.truth.attempts if a["event_id"] == "Ev1"]
        assert [(a["retry_attempt"], a["outcome"]) for a in tries] == [(0, "http_timeout"), (1, "ok")]
        rows = cap.df[cap.df.event_id == "Ev1"].sort_values("retry_attempt")
        assert list(rows.retry_attempt) == [0, 1] and rows.retry_reason.iloc[1] == "http_timeout"
        assert rows.response_ms.iloc[0] >= 500  # the receiver's own clock shows the slow answer

    def test_500_is_retried_with_http_error_until_it_works(self, no_leftover_threads) -> None:
        calls: list[int] = []

        def flaky(row: dict[str, Any]) -> Reply | None:
            calls.append(row["retry_attempt"])
            return Reply(status=500) if row["retry_attempt"] < 2 else None

        with HttpReceiver(respond=flaky) as cap:
            sender = run(events(1), cap, 4)
        assert calls == [0, 1, 2]
        assert [a["retry_reason"] for a in sender.truth.attempts[1:]] == [None, "http_error", "http_error"]
        assert sorted(cap.df.http_status.dropna().astype(int)) == [200, 200, 500, 500]

    def test_no_retry_header_stops_that_event_only(self, no_leftover_threads) -> None:
        refuse = respond_once(lambda row: row["event_id"] == "Ev0", Reply(500, headers={"X-Slack-No-Retry": "1"}))
        with HttpReceiver(respond=refuse) as cap:
            sender = run(events(2), cap, 3)
        rows = {r["event_id"]: r for r in sender.truth.event_rows}
        assert (rows["Ev0"]["attempts"], rows["Ev0"]["outcome"]) == (1, "failed")
        assert rows["Ev1"]["outcome"] == "delivered"
        assert sender.truth.summary()["no_retry_stops"] == 1

    def test_retries_run_out_after_three(self, no_leftover_threads) -> None:
        with HttpReceiver(respond=lambda row: Reply(status=503)) as cap:
            sender = run(events(1), cap, 5)
        tries = sender.truth.attempts[1:]
        assert [a["retry_attempt"] for a in tries] == [0, 1, 2, 3]
        assert sender.truth.event_rows[0]["outcome"] == "failed" and sender.truth.keys("failed")

    def test_slash_commands_and_interactivity_are_not_retried(self, no_leftover_threads) -> None:
        b = ScenarioBuilder(seed=1)
        b.slash(0.0, "/deploy", "now")
        b.block_action(0.0, "approve")
        with HttpReceiver(respond=lambda row: Reply(status=500)) as cap:
            sender = run(list(b.build()), cap, 3)
        assert sender.truth.summary()["attempts"] == 2 and sender.truth.summary()["failed"] == 2

    def test_unanswered_challenge_means_nothing_is_sent(self, no_leftover_threads) -> None:
        with HttpReceiver(path="/slack/events") as cap:
            wrong = cap.url.replace("/slack/events", "/wrong")
            with HttpDelivery(events(2), wrong, **FAST) as sender:
                assert sender.wait_done(timeout=10)
        assert sender.truth.url_verified is False and sender.truth.summary()["not_sent"] == 2
        assert len(cap) == 0

    def test_connection_failures_are_retried_then_given_up(self, no_leftover_threads) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]  # closed when the block ends: nobody listens there
        with HttpDelivery(events(1), f"http://127.0.0.1:{port}/slack/events", verify_url=False, **FAST) as sender:
            assert sender.wait_done(timeout=20)
        reasons = [a["retry_reason"] for a in sender.truth.attempts]
        assert reasons == [None, "connection_failed", "connection_failed", "connection_failed"]

    def test_dropped_items_never_arrive(self, no_leftover_threads) -> None:
        with HttpReceiver() as cap:
            sender = run(events(4), cap, 3, drop={1, 2})
        assert sorted(cap.df.event_id.dropna()) == ["Ev0", "Ev3"]
        assert [r["outcome"] for r in sender.truth.event_rows] == ["delivered", "dropped", "dropped", "delivered"]

    def test_same_scenario_same_ids_as_the_socket_simulator_would_send(self, no_leftover_threads) -> None:
        scenario = build_scenario(seed=7, events=30, duration=1.0)
        with HttpReceiver(signing_secret=FAKE_SIGNING_SECRET) as cap:
            sender = run(scenario, cap, 31)
        sent = {item.payload.get("event_id") or item.payload.get("trigger_id") for item in scenario}
        got = set(cap.df.event_id.dropna()) | set(cap.df.trigger_id.dropna())
        assert got == sent and sender.truth.summary()["delivered"] == 30

    def test_close_mid_run_leaves_no_threads(self, no_leftover_threads) -> None:
        with HttpReceiver(respond=lambda row: Reply(delay=5.0)) as cap:
            sender = HttpDelivery(events(3), cap.url, speed=1000.0, timeout=10.0, start=True)
            time.sleep(0.3)
            started = time.monotonic()
            sender.close()
            assert time.monotonic() - started < 3
            assert sender.done
        assert "HttpDelivery" in repr(sender)

    def test_an_unencodable_payload_is_not_sent(self, no_leftover_threads) -> None:
        items = [ScenarioItem(0.0, "events_api", {**event_payload("Ev1"), "odd": object()}), *events(1)]
        with HttpReceiver() as cap:
            sender = run(items, cap, 2)
        assert [r["outcome"] for r in sender.truth.event_rows] == ["not_sent", "delivered"]

    def test_bad_arguments(self) -> None:
        with pytest.raises(ValueError):
            HttpDelivery([], "ftp://x")
        with pytest.raises(ValueError):
            HttpDelivery([], "http://127.0.0.1:1/", speed=0)
        with pytest.raises(ValueError):
            HttpDelivery([], "http://127.0.0.1:1/", event_times="yesterday")
        with pytest.raises(ValueError):
            HttpDelivery([], "http://127.0.0.1:1/", forge={0: "polite"})

    def test_held_clock_then_event_times_from_when_each_event_happens(self, no_leftover_threads) -> None:
        items = [ScenarioItem(at, "events_api", event_payload(f"Ev{i}")) for i, at in enumerate((0.0, 5.0, 10.0))]
        with HttpReceiver(signing_secret=FAKE_SIGNING_SECRET) as cap:
            with HttpDelivery(items, cap.url, speed=20.0, hold_clock=True, headers={"X-Extra": "1"}) as sender:
                assert wait_until(lambda: sender.url_verified, timeout=5)  # the challenge, answered
                time.sleep(0.2)
                assert len(cap) == 1 and not sender.done
                epoch = time.time()
                sender.start_clock(time.monotonic(), epoch)
                assert sender.wait_done(timeout=10)
            cap.wait_for(4, timeout=5)
        rows = cap.df[cap.df.kind == "events_api"].set_index("event_id")
        truth = {r["event_id"]: r["happened_at"] for r in sender.truth.event_rows}
        for i, at in enumerate((0.0, 5.0, 10.0)):
            assert truth[f"Ev{i}"] == pytest.approx(epoch + at / 20.0)
            assert rows.loc[f"Ev{i}", "event_time"].timestamp() == int(epoch + at / 20.0)
            assert 0 <= (rows.loc[f"Ev{i}", "received_at"].timestamp() - truth[f"Ev{i}"]) < 2.0
        assert items[0].payload["event_time"] == 1700000000  # the items themselves are untouched

    def test_scenario_times_are_sent_as_given(self, no_leftover_threads) -> None:
        with HttpReceiver(signing_secret=FAKE_SIGNING_SECRET) as cap:
            run(events(2), cap, 3, event_times="scenario")
        assert set(cap.df.event_time.dropna().map(lambda t: t.timestamp())) == {1700000000.0}

    def test_signature_is_over_the_exact_raw_body(self, tmp_path: Path, no_leftover_threads) -> None:
        log = tmp_path / "raw.jsonl"
        b = ScenarioBuilder(seed=2)
        b.message(0.0, "naïve =1+1 🚀")
        b.slash(0.0, "/poll", '"Lunch?" pizza tacos')
        with HttpReceiver(log=log) as cap:  # no secret: the receiver does not check; we do, from the raw log
            run(list(b.build()), cap, 3)
        for line in log.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            headers = [tuple(h) for h in record["headers"]]
            assert verify(FAKE_SIGNING_SECRET, headers, exact_body(line), record["t"]) == "valid"


def respond_once(match: Any, reply: Reply) -> Any:
    """A ``respond`` that answers ``reply`` the first time ``match(row)`` holds, normally after that."""
    lock, used = threading.Lock(), []

    def respond(row: dict[str, Any]) -> Reply | None:
        with lock:
            if match(row) and not used:
                used.append(row)
                return reply
        return None

    return respond
