"""DeliveryLedger: Slack's delivery bookkeeping, driven by a fake clock (no sleeping)."""

from __future__ import annotations

import json
import random
import re

import pytest

from slacklab.schema import event_key, payload_fields
from slacklab.sim.ledger import DeliveryLedger, EventRecord
from slacklab.sim.scenario import ScenarioBuilder, ScenarioItem

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def items(n: int = 3):
    b = ScenarioBuilder(seed=7)
    first = b.message(0.0, "hello")
    for i in range(1, n - 1):
        b.message(float(i), f"message {i}")
    if n > 1:
        b.slash(float(n - 1), "/deploy", "api staging")
    assert first
    return b.build().items


def submit(led: DeliveryLedger, item: ScenarioItem, now: float, **kw) -> EventRecord:
    """What the simulator does: key the event with the delivery schema."""
    f = payload_fields(item.kind, dict(item.payload))
    key = event_key(
        event_id=f["event_id"] if "event_id" in f else None,
        team_id=f["team_id"],
        api_app_id=f["api_app_id"],
        trigger_id=f["trigger_id"],
        envelope_id=None,
    )
    return led.submit(
        item.kind, item.payload, now, key=key, event_id=f.get("event_id"), event_type=f.get("event_type"), **kw
    )


def ledger_with(conns=("s1",), **kw) -> DeliveryLedger:
    led = DeliveryLedger(**kw)
    for c in conns:
        led.add_connection(c, 0.0)
        led.hello_sent(c, 0.0)
    return led


def frame(send) -> dict:
    return json.loads(send.text)


def test_first_delivery_frame_shape():
    led = ledger_with()
    item = items(1)[0]
    submit(led, item, 0.0)
    (send,) = led.poll(0.0)
    f = frame(send)
    assert send.connection == "s1"
    assert UUID_RE.match(f["envelope_id"]) and f["envelope_id"] == send.envelope_id
    assert f["type"] == "events_api"
    assert f["payload"] == item.payload
    assert f["accepts_response_payload"] is False
    assert f["retry_attempt"] == 0 and f["retry_reason"] == ""
    assert send.event_key == f"A0SIMAPP/T0SIMTEAM/{item.payload['event_id']}"


def test_slash_and_interactive_accept_response_and_have_no_retry_fields():
    b = ScenarioBuilder()
    s = b.slash(0, "/weather", "Berlin")
    a = b.block_action(0, "approve_deploy")
    led = ledger_with()
    submit(led, s, 0.0)
    submit(led, a, 0.0, accepts_response_payload=False)
    f1, f2 = (frame(x) for x in led.poll(0.0))
    assert f1["type"] == "slash_commands" and f1["accepts_response_payload"] is True
    assert "retry_attempt" not in f1
    assert f2["type"] == "interactive" and f2["accepts_response_payload"] is False
    truth = led.snapshot()
    assert truth.events == (f"trigger:{s.payload['trigger_id']}", f"trigger:{a.payload['trigger_id']}")


def test_envelope_ids_are_deterministic_and_unique():
    def run(seed):
        led = ledger_with(seed=seed)
        for it in items(5):
            submit(led, it, 0.0)
        return [s.envelope_id for s in led.poll(0.0)]

    assert run(1) == run(1)
    assert run(1) != run(2)
    assert len(set(run(1))) == 5


def test_ack_in_time_settles_and_nothing_is_redelivered():
    led = ledger_with()
    for it in items(3):
        submit(led, it, 0.0)
    sends = led.poll(0.0)
    assert led.in_flight == 3 and not led.done
    for s in sends:
        rec = led.ack(s.envelope_id, 1.0, connection="s1")
        assert rec.known and not rec.late and not rec.duplicate
    assert led.done and led.in_flight == 0
    assert led.poll(100.0) == []
    truth = led.snapshot()
    assert truth.unacked_events == () and len(truth.acked_events) == 3
    assert [d["status"] for d in truth.deliveries] == ["acked"] * 3
    assert truth.summary()["retries"] == 0


def test_unacked_envelope_is_redelivered_three_times_then_given_up():
    led = ledger_with(ack_timeout=3.0)
    item = items(1)[0]
    submit(led, item, 0.0)
    (first,) = led.poll(0.0)
    assert led.next_deadline() == 3.0
    assert led.poll(2.999) == []
    seen = [frame(first)]
    now = 0.0
    for attempt in (1, 2, 3):
        now += 3.0
        (retry,) = led.poll(now)
        f = frame(retry)
        assert f["retry_attempt"] == attempt and f["retry_reason"] == "timeout"
        assert f["payload"]["event_id"] == item.payload["event_id"]
        seen.append(f)
    assert len({f["envelope_id"] for f in seen}) == 4
    assert not led.done
    assert led.poll(now + 3.0) == []
    assert led.done
    truth = led.snapshot()
    assert truth.lost_events == (truth.events[0],)
    assert [d["retry_attempt"] for d in truth.deliveries_of(truth.events[0])] == [0, 1, 2, 3]
    assert truth.event_rows[0]["exhausted"] and truth.event_rows[0]["deliveries"] == 4


def test_max_retries_zero_gives_up_after_first_timeout():
    led = ledger_with(max_retries=0)
    it = items(1)[0]
    submit(led, it, 0.0)
    led.poll(0.0)
    assert led.poll(10.0) == [] and led.done


def test_ack_of_a_retry_settles_the_event():
    led = ledger_with()
    it = items(1)[0]
    submit(led, it, 0.0)
    led.poll(0.0)
    (retry,) = led.poll(3.0)
    led.ack(retry.envelope_id, 3.5)
    assert led.done
    assert led.poll(50.0) == []
    truth = led.snapshot()
    assert [d["status"] for d in truth.deliveries] == ["timed_out", "acked"]


def test_late_ack_of_old_envelope_is_recorded_late_and_cancels_queued_retry():
    led = DeliveryLedger(ack_timeout=3.0)
    led.add_connection("s1", 0.0)
    led.hello_sent("s1", 0.0)
    it = items(1)[0]
    submit(led, it, 0.0)
    (first,) = led.poll(0.0)
    led.close("s1", 1.0)
    assert led.poll(3.0) == []  # timed out, retry queued: no connection
    assert led.queued == 1
    rec = led.ack(first.envelope_id, 4.0)
    assert rec.known and rec.late and not rec.duplicate
    assert led.done and led.queued == 0
    led.add_connection("s2", 5.0)
    led.hello_sent("s2", 5.0)
    assert led.poll(5.0) == []
    truth = led.snapshot()
    assert truth.deliveries[0]["ack_late"] is True
    assert truth.summary()["late_acks"] == 1


def test_late_ack_while_retry_outstanding_then_retry_ack_is_not_duplicate_of_envelope():
    led = ledger_with()
    it = items(1)[0]
    submit(led, it, 0.0)
    (first,) = led.poll(0.0)
    (retry,) = led.poll(3.0)
    assert led.ack(first.envelope_id, 3.1).late
    assert led.done
    rec = led.ack(retry.envelope_id, 3.2)
    assert rec.known and not rec.late and not rec.duplicate
    assert led.poll(100.0) == []
    row = led.snapshot().event_rows[0]
    assert row["acked"] and row["deliveries"] == 2


def test_unknown_and_duplicate_acks_are_recorded_not_errors():
    led = ledger_with()
    it = items(1)[0]
    submit(led, it, 0.0)
    (s,) = led.poll(0.0)
    unknown = led.ack("not-an-envelope", 0.5, connection="s1")
    assert not unknown.known and unknown.event_key is None
    led.ack(s.envelope_id, 0.6)
    dup = led.ack(s.envelope_id, 0.7)
    assert dup.duplicate and dup.known
    summary = led.snapshot().summary()
    assert summary["acks"] == 3 and summary["unknown_acks"] == 1 and summary["duplicate_acks"] == 1
    assert led.snapshot().deliveries[0]["acked_at"] == 0.6


def test_exhausted_event_acked_late_counts_as_acked_not_lost():
    led = ledger_with(max_retries=1)
    it = items(1)[0]
    submit(led, it, 0.0)
    (first,) = led.poll(0.0)
    led.poll(3.0)
    led.poll(6.0)
    assert led.done and led.snapshot().lost_events
    led.ack(first.envelope_id, 7.0)
    truth = led.snapshot()
    assert truth.lost_events == () and truth.acked_events == {truth.events[0]}
    assert led.done


def test_deliveries_queue_until_a_connection_says_hello():
    led = DeliveryLedger()
    for it in items(3):
        submit(led, it, 0.0)
    assert led.poll(1.0) == [] and led.queued == 3
    led.add_connection("s1", 2.0)
    assert led.poll(2.0) == []  # no hello yet
    assert led.connection_state("s1") == "open"
    led.hello_sent("s1", 2.5)
    sends = led.poll(2.5)
    assert [s.connection for s in sends] == ["s1"] * 3
    # deadlines start when sent, not when submitted
    assert led.next_deadline() == 5.5


def test_retired_and_closed_connections_get_nothing_new():
    led = ledger_with(conns=("s1", "s2"))
    led.retire("s1", 0.0)
    assert led.eligible == ("s2",)
    for it in items(3):
        submit(led, it, 0.0)
    assert {s.connection for s in led.poll(0.0)} == {"s2"}
    led.close("s2", 1.0)
    assert led.eligible == ()
    led.hello_sent("s2", 1.0)  # a closed connection cannot come back
    assert led.connection_state("s2") == "closed"
    led.retire("s2", 1.0)
    assert led.connection_state("s2") == "closed"
    assert led.connection_state("nope") is None


def test_redelivery_after_connection_closed_goes_to_another_connection():
    led = ledger_with(conns=("s1",))
    it = items(1)[0]
    submit(led, it, 0.0)
    (first,) = led.poll(0.0)
    led.close("s1", 0.5)
    led.add_connection("s2", 1.0)
    led.hello_sent("s2", 1.0)
    (retry,) = led.poll(3.0)
    assert retry.connection == "s2" and retry.retry_attempt == 1
    assert led.snapshot().deliveries[1]["connection"] == "s2"


def test_spread_uses_injected_rng_and_touches_every_connection():
    def run():
        led = ledger_with(conns=("s1", "s2", "s3"), rng=random.Random(3))
        for it in items(30):
            submit(led, it, 0.0)
        return [s.connection for s in led.poll(0.0)]

    a = run()
    assert a == run()
    assert set(a) == {"s1", "s2", "s3"}


def test_max_in_flight_caps_unacked_envelopes():
    led = ledger_with(max_in_flight=2)
    for it in items(5):
        submit(led, it, 0.0)
    first = led.poll(0.0)
    assert len(first) == 2 and led.in_flight == 2 and led.queued == 3
    assert led.poll(0.1) == []
    led.ack(first[0].envelope_id, 0.2)
    (nxt,) = led.poll(0.2)
    assert nxt.retry_attempt == 0
    # timeouts free room too; the retry goes to the back of the queue
    sends = led.poll(3.0)
    assert len(sends) == 1 and led.in_flight == 2


def test_poll_without_dispatch_only_expires():
    led = ledger_with()
    it = items(1)[0]
    submit(led, it, 0.0)
    assert led.poll(0.0, dispatch=False) == []
    (s,) = led.poll(0.0)
    assert led.poll(3.0, dispatch=False) == []
    assert led.queued == 1
    (retry,) = led.poll(3.1)
    assert retry.retry_attempt == 1


def test_snapshot_offset_and_truth_helpers():
    led = ledger_with()
    it = items(2)
    for x in it:
        submit(led, x, 0.0)
    a, b = led.poll(1.0)
    led.ack(a.envelope_id, 2.0, connection="s1")
    truth = led.snapshot(clock_offset=1000.0)
    assert truth.deliveries[0]["sent_at"] == 1001.0
    assert truth.deliveries[0]["deadline"] == 1004.0
    assert truth.acks[0]["at"] == 1002.0 and truth.acks[0]["connection"] == "s1"
    assert truth.unacked_events == (truth.events[1],)
    assert truth.in_flight == 1 and truth.queued == 0
    s = truth.summary()
    assert s["events"] == 2 and s["deliveries"] == 2 and s["acked_events"] == 1
    with pytest.raises(AttributeError):
        truth.events = ()  # type: ignore[misc]
    assert "in_flight=1" in repr(led)


def test_invalid_arguments():
    with pytest.raises(ValueError):
        DeliveryLedger(ack_timeout=0)
    with pytest.raises(ValueError):
        DeliveryLedger(max_retries=-1)
    with pytest.raises(ValueError):
        DeliveryLedger(max_in_flight=0)


def test_payload_without_keys_gets_an_item_key():
    led = ledger_with()
    led.submit("events_api", {"type": "event_callback"}, 0.0)
    (s,) = led.poll(0.0)
    assert s.event_key == "item:0"


# ------------------------------------------------------------- the app's side


@pytest.mark.parametrize(
    ("delay", "expected_deliveries", "ack_late"),
    [
        (1.0, 1, False),  # slow, but within the 3 s: no redelivery
        (2.9, 1, False),  # just inside the deadline
        (4.0, 2, True),  # past the deadline: redelivered with retry_attempt 1, the slow ack then late
        (7.5, 2, True),  # the retry is acked at once and settles the event first
    ],
)
def test_slow_app_acks_count_from_now_plus_delay(delay: float, expected_deliveries: int, ack_late: bool) -> None:
    led = ledger_with(ack_timeout=3.0)
    led.slow_app(delay)
    submit(led, items(1)[0], 0.0)
    (send,) = led.poll(0.0)
    record = led.ack(send.envelope_id, 0.01, connection="s1")
    assert record.at == pytest.approx(0.01 + delay) and record.late is ack_late
    now, sent = 0.0, [send]
    while (due := led.next_deadline()) is not None:
        now = due
        for again in led.poll(now):
            sent.append(again)
            led.ack(again.envelope_id, now + 0.01, connection="s1")
    truth = led.snapshot()
    assert len(truth.deliveries) == expected_deliveries and led.done and not truth.lost_events
    assert [d["retry_attempt"] for d in truth.deliveries] == list(range(expected_deliveries))
    first = truth.deliveries[0]
    assert first["acked_at"] == pytest.approx(0.01 + delay) and first["ack_late"] is ack_late


def test_slow_app_every_nth_event_or_chosen_keys() -> None:
    led = ledger_with()
    led.slow_app(5.0, every=2)
    records = [submit(led, item, 0.0) for item in items(4)]
    held = [led.ack(s.envelope_id, 0.1, connection="s1") for s in led.poll(0.0)]
    assert [r.at > 1 for r in held] == [False, True, False, True]
    led.slow_app(5.0, keys=[records[0].event_key])
    assert led._is_slow(led.events[0]) and not led._is_slow(led.events[1])
    led.slow_app(None)
    with pytest.raises(ValueError):
        led.slow_app(1.0, every=0)


def test_another_consumer_takes_its_share_and_acks_unseen() -> None:
    led = ledger_with(seed=1)
    led.add_consumer("other", 0.0)
    for item in items(12):
        submit(led, item, 0.0)
    sends = led.poll(0.0)
    truth = led.snapshot()
    taken = [d for d in truth.deliveries if d["connection"] == "other"]
    assert taken and len(sends) + len(taken) == 12  # what the other consumer got is not sent here
    assert all(d["status"] == "acked" for d in taken) and {s.connection for s in sends} == {"s1"}
    led.close("other", 0.0)
    assert led.eligible == ("s1",)


def test_replayed_events_are_marked_in_the_envelope_and_the_truth() -> None:
    led = ledger_with()
    submit(led, items(1)[0], 0.0, replayed=True)
    submit(led, items(2)[1], 0.0)
    first, second = led.poll(0.0)
    assert frame(first)["slacklab_replay"] is True and "slacklab_replay" not in frame(second)
    assert [r["replayed"] for r in led.snapshot().event_rows] == [True, False]
