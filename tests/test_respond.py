"""Answers in the ack: the responder registry, the listener's slow path over loopback, the simulator's checks."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.sync.client import connect

import slacklab
from slacklab.capture import Capture
from slacklab.errors import ResponderError
from slacklab.respond import Responders, ack_with_payload, run_responder
from slacklab.sim.answers import judge, response_problem
from slacklab.sim.ledger import DeliveryLedger
from slacklab.sim.server import Simulator
from slacklab.testing import payload, send_and_wait_for_answer
from tests.helpers import block_action_payload, envelope, event_payload, slash_payload, wait_until

FAKE_TOKEN = "xoxb-0000-SIMULATED-FAKE-TOKEN"
FAKE_HOOK = "https://hooks.slack.com/commands/T0SIM/1/SIMULATEDFAKE"
OPTIONS = {"options": [{"text": {"type": "plain_text", "text": "api"}, "value": "api"}]}


def _payload(family: str, **options: Any) -> dict[str, Any]:
    return dict(payload(family, **options).payload)


# ------------------------------------------------------------------ the registry (pure)

MATCHES = [
    # (what, filters, kind, payload, matches)
    ("/deploy", {}, "slash_commands", _payload("slash_command", command="/deploy"), True),
    ("/deploy", {}, "slash_commands", _payload("slash_command", command="/rollback"), False),
    ("/deploy", {}, "interactive", _payload("block_suggestion"), False),
    ("block_suggestion", {}, "interactive", _payload("block_suggestion"), True),
    ("block_suggestion", {"action_id": "search"}, "interactive", _payload("block_suggestion"), True),
    ("block_suggestion", {"action_id": "other"}, "interactive", _payload("block_suggestion"), False),
    ("view_submission", {"callback_id": "ticket_modal"}, "interactive", _payload("view_submission"), True),
    ("view_submission", {"callback_id": "other"}, "interactive", _payload("view_submission"), False),
    ("view_submission", {}, "interactive", _payload("view_closed"), False),
    ("block_actions", {"action_id": "approve"}, "interactive", _payload("block_actions"), True),
    ("block_actions", {"action_id": "deny"}, "interactive", _payload("block_actions"), False),
    ("shortcut", {"callback_id": "new_ticket"}, "interactive", _payload("shortcut"), True),
    ("interactive", {"when": lambda p: p.get("type") == "shortcut"}, "interactive", _payload("shortcut"), True),
    (
        "interactive",
        {"when": lambda p: p.get("type") == "shortcut"},
        "interactive",
        _payload("block_suggestion"),
        False,
    ),
    ("interactive", {}, "slash_commands", _payload("slash_command"), False),
    ("slash_commands", {}, "slash_commands", _payload("slash_command", command="/x"), True),
    ("*", {}, "slash_commands", _payload("slash_command"), True),
    ("*", {}, "interactive", _payload("view_submission"), True),
]


@pytest.mark.parametrize(("what", "filters", "kind", "body", "expected"), MATCHES)
def test_responder_matches(what: str, filters: dict[str, Any], kind: str, body: dict[str, Any], expected: bool) -> None:
    responders = Responders()
    responders.set(what, lambda p: None, **filters)
    assert (responders.find(kind, body) is not None) is expected


@pytest.mark.parametrize(
    ("what", "fn", "filters", "message"),
    [
        ("events_api", lambda p: None, {}, "never accept a response payload"),
        ("", lambda p: None, {}, "slash command"),
        ("deploy", lambda p: None, {}, "cannot answer 'deploy'"),
        ("/deploy", "not a function", {}, "must be a function"),
        ("/deploy", lambda p: None, {"deadline": 3.5}, "between 0 and 3 s"),
        ("/deploy", lambda p: None, {"deadline": 0}, "between 0 and 3 s"),
        ("/deploy", lambda p: None, {"when": "yes"}, "when= must be a function"),
    ],
)
def test_responder_refused(what: str, fn: Any, filters: dict[str, Any], message: str) -> None:
    with pytest.raises(ResponderError, match=re.escape(message)):
        Capture().respond(what, fn, **filters)


def test_register_replace_remove_and_repr() -> None:
    cap = Capture()
    assert not cap.responders.active and "none" in repr(cap.responders)

    def first(p: dict[str, Any]) -> dict[str, Any]:
        return {"text": "first"}

    def second(p: dict[str, Any]) -> dict[str, Any]:
        return {"text": "second"}

    cap.respond("/deploy", first)
    cap.respond("/deploy", second)  # a re-run cell replaces it
    cap.respond("block_suggestion", first, action_id="search")
    assert len(cap.responders) == 2 and cap.responders.active
    found = cap.responders.find("slash_commands", _payload("slash_command"))
    assert found is not None and found.fn is second
    text = repr(cap.responders)
    assert "/deploy -> second" in text and "block_suggestion action_id='search' -> first" in text
    assert "first" not in text.split("/deploy")[1].split("\n")[0]
    cap.respond("/deploy", None)
    assert [r.label for r in cap.responders] == ["block_suggestion action_id='search'"]
    cap.respond("block_suggestion", None, action_id="search")
    assert not cap.responders.active and len(cap.responders) == 0


def test_the_most_specific_responder_wins() -> None:
    responders = Responders()
    responders.set("*", lambda p: {"text": "any"})
    responders.set("block_suggestion", lambda p: OPTIONS, action_id="search")
    responders.set("block_suggestion", lambda p: {"options": []})
    found = responders.find("interactive", _payload("block_suggestion"))
    assert found is not None and found.action_id == "search"
    found = responders.find("interactive", _payload("block_suggestion", action_id="elsewhere"))
    assert found is not None and found.type == "block_suggestion" and found.action_id is None


def test_a_broken_predicate_does_not_match() -> None:
    responders = Responders()
    responders.set("interactive", lambda p: {"text": "x"}, when=lambda p: p["no such key"])
    assert responders.find("interactive", _payload("shortcut")) is None


@pytest.mark.parametrize(
    ("frame", "answers"),
    [
        (envelope(slash_payload(), "e1", kind="slash_commands"), True),
        (envelope(slash_payload(command="/other"), "e1", kind="slash_commands"), False),
        (envelope(event_payload(), "e1"), False),  # accepts_response_payload false
        (envelope(block_action_payload(), "e1", kind="interactive"), False),
        ('{"envelope_id":"e1","type":"slash_commands","accepts_response_payload":true,"payload":', False),
        (json.dumps({"envelope_id": "e1", "type": "slash_commands", "accepts_response_payload": True}), False),
    ],
)
def test_match_a_raw_frame(frame: str, answers: bool) -> None:
    responders = Responders()
    responders.set("/deploy", lambda p: {"text": "ok"})
    call = responders.match(frame, "e1")
    assert (call is not None) is answers
    if call is not None:
        assert call.payload["command"] == "/deploy" and call.envelope_id == "e1"


class Boom(Exception):
    pass


def _raise(p: dict[str, Any]) -> None:
    raise Boom(f"cannot use {FAKE_TOKEN}")


@pytest.mark.parametrize(
    ("fn", "ack_payload", "problem"),
    [
        (lambda p: {"text": p["text"]}, {"text": "now"}, None),
        (lambda p: "plain text", {"text": "plain text"}, None),
        (lambda p: None, None, None),
        (lambda p: {}, None, None),
        (_raise, None, "responder for /deploy raised Boom: cannot use xoxb-"),
        (lambda p: ["a list"], None, "responder for /deploy returned a list; it must return a dict or None"),
        (lambda p: {"text": {1, 2}}, None, "responder for /deploy returned something that is not JSON"),
    ],
)
def test_run_responder(fn: Any, ack_payload: dict[str, Any] | None, problem: str | None) -> None:
    responders = Responders()
    responder = responders.set("/deploy", fn)
    assert responder is not None
    outcome = run_responder(responder, slash_payload(), "e1")
    sent = json.loads(outcome.ack)
    assert sent["envelope_id"] == "e1" and sent.get("payload") == ack_payload
    assert (outcome.recorded is None) is (ack_payload is None)
    if problem is None:
        assert outcome.problem is None
    else:
        assert outcome.problem is not None and outcome.problem.startswith(problem)
        assert outcome.problem.endswith("sent an empty ack") and FAKE_TOKEN not in outcome.problem


def test_the_responder_gets_its_own_copy() -> None:
    body = slash_payload()

    def scribble(p: dict[str, Any]) -> dict[str, Any]:
        p["text"] = "changed"
        return {"text": "ok"}

    responder = Responders().set("/deploy", scribble)
    assert responder is not None
    run_responder(responder, body, "e1")
    assert body["text"] == "now"


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.text(min_size=1, max_size=8), st.text(max_size=20) | st.integers(), max_size=4))
def test_ack_with_payload_round_trips(answer: dict[str, Any]) -> None:
    sent = json.loads(ack_with_payload('env "1"', answer))
    assert sent == {"envelope_id": 'env "1"', "payload": answer}


# ------------------------------------------------------------------ the simulator's checks (pure)

PROBLEMS = [
    # (known, accepts, late, duplicate, response, problem starts with)
    (True, True, False, False, {"text": "hi"}, None),
    (False, True, False, False, {"text": "hi"}, "an answer in the ack of an unknown envelope"),
    (True, False, False, False, {"text": "hi"}, "this envelope did not accept a response payload"),
    (True, True, False, True, {"text": "hi"}, "the envelope was acked already"),
    (True, True, True, False, {"text": "hi"}, "the ack came after the deadline"),
    (True, True, False, False, ["hi"], "the payload must be a JSON object, not list"),
    (True, True, False, False, "hi", "the payload must be a JSON object, not str"),
]


@pytest.mark.parametrize(("known", "accepts", "late", "duplicate", "response", "problem"), PROBLEMS)
def test_response_problem(known: bool, accepts: bool, late: bool, duplicate: bool, response: Any, problem: Any) -> None:
    found = response_problem(known=known, accepts=accepts, late=late, duplicate=duplicate, response=response)
    assert (found is None) if problem is None else (found is not None and found.startswith(problem))


SLASH = _payload("slash_command", command="/deploy")
SUGGEST = _payload("block_suggestion")
SUBMIT = _payload("view_submission")
MODAL = {"type": "modal", "title": {"type": "plain_text", "text": "Next"}, "blocks": []}
JUDGED = [
    # (kind, request, response, effect, error contains)
    ("slash_commands", SLASH, {"text": "hi"}, "ephemeral", None),
    ("slash_commands", SLASH, {"text": "hi", "response_type": "in_channel"}, "in_channel", None),
    ("slash_commands", SLASH, {"blocks": [{"type": "divider"}], "response_type": "ephemeral"}, "ephemeral", None),
    ("slash_commands", SLASH, {"response_type": "in_channel"}, None, "needs text or blocks"),
    ("slash_commands", SLASH, {"text": "hi", "response_type": "everyone"}, None, "response_type must be"),
    ("interactive", SUGGEST, OPTIONS, "options", None),
    ("interactive", SUGGEST, {"option_groups": [{"label": {}, "options": OPTIONS["options"]}]}, "options", None),
    ("interactive", SUGGEST, {"option_groups": [{"label": {}, "options": 5}]}, None, "needs a list of options"),
    ("interactive", SUGGEST, {"options": OPTIONS["options"] * 101}, None, "at most 100"),
    ("interactive", SUGGEST, {"options": [{"value": "x"}]}, None, "needs text and value"),
    ("interactive", SUGGEST, {"text": "hi"}, None, "need options"),
    ("interactive", SUBMIT, {"response_action": "errors", "errors": {"details": "too short"}}, "errors", None),
    ("interactive", SUBMIT, {"response_action": "errors"}, None, "needs errors"),
    ("interactive", SUBMIT, {"response_action": "update", "view": MODAL}, "update", None),
    ("interactive", SUBMIT, {"response_action": "push", "view": {"type": "home"}}, None, "needs a modal view"),
    ("interactive", SUBMIT, {"response_action": "clear"}, "clear", None),
    ("interactive", SUBMIT, {"response_action": "close"}, None, "response_action must be one of"),
    ("interactive", _payload("block_actions"), {"text": "hi"}, "none", None),
]


@pytest.mark.parametrize(("kind", "request_", "response", "effect", "error"), JUDGED)
def test_judge(kind: str, request_: dict[str, Any], response: dict[str, Any], effect: Any, error: Any) -> None:
    verdict = judge(kind, request_, response)
    assert verdict.effect == effect
    assert (verdict.error is None) if error is None else (verdict.error is not None and error in verdict.error)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
ANSWER_KEYS = st.sampled_from(
    ["text", "blocks", "response_type", "options", "option_groups", "response_action", "errors", "view"]
)


@settings(max_examples=300, deadline=None)
@given(
    kind=st.sampled_from(["slash_commands", "interactive", "events_api"]),
    request_=st.sampled_from([SLASH, SUGGEST, SUBMIT, _payload("block_actions"), {}]),
    response=st.dictionaries(ANSWER_KEYS, JSON, max_size=5),
    flags=st.tuples(st.booleans(), st.booleans(), st.booleans(), st.booleans()),
)
def test_any_answer_gets_exactly_one_verdict(
    kind: str, request_: dict[str, Any], response: dict[str, Any], flags: tuple[bool, bool, bool, bool]
) -> None:
    verdict = judge(kind, request_, response)  # never raises, whatever the app sent
    assert (verdict.effect is None) != (verdict.error is None)
    known, accepts, late, duplicate = flags
    problem = response_problem(known=known, accepts=accepts, late=late, duplicate=duplicate, response=response)
    assert (problem is None) == (known and accepts and not late and not duplicate)


def test_ledger_checks_and_records_answers() -> None:
    ledger = DeliveryLedger(ack_timeout=3.0, seed=0)
    ledger.add_connection("s1", 0.0)
    ledger.hello_sent("s1", 0.0)
    ledger.submit("slash_commands", SLASH, 0.0, key="slash")
    ledger.submit("events_api", event_payload(), 0.0, key="event")
    ledger.submit("slash_commands", SLASH, 0.0, key="late")
    slash, event, late = ledger.poll(0.0)
    cases = [
        (ledger.ack(slash.envelope_id, 1.0, connection="s1"), None),
        (ledger.ack(slash.envelope_id, 1.1, connection="s1"), "acked already"),
        (ledger.ack(event.envelope_id, 1.0, connection="s1"), "did not accept"),
        (ledger.ack(late.envelope_id, 3.5, connection="s1"), "after the deadline"),
        (ledger.ack("no-such-envelope", 1.0, connection="s1"), "unknown envelope"),
    ]
    for record, expected in cases:
        problem = ledger.response_problem(record, {"text": "hi"})
        assert (problem is None) if expected is None else (problem is not None and expected in problem)
        ledger.record_response(record, {"text": "hi"}, effect=None if problem else "ephemeral", error=problem)
    truth = ledger.snapshot(clock_offset=100.0)
    assert [r["error"] is None for r in truth.responses] == [True, False, False, False, False]
    first = truth.responses[0]
    assert first["type"] == "/deploy" and first["kind"] == "slash_commands" and first["event_key"] == "slash"
    assert first["at"] == 101.0 and first["effect"] == "ephemeral"
    assert truth.responses[-1]["kind"] is None and truth.responses[-1]["type"] is None


# ------------------------------------------------------------------ the simulator over loopback (a raw client)


class AckingClient:
    """A bare Socket Mode client that acks each envelope with what ``answer(envelope)`` returns."""

    def __init__(self, sim: Simulator) -> None:
        self.ws = connect(sim.issue_url(), open_timeout=5, close_timeout=2, ping_interval=None).__enter__()
        assert json.loads(self.ws.recv(timeout=5))["type"] == "hello"

        self.others: list[dict[str, Any]] = []  # envelopes not asked for (the bot's own message events)

    def answer(self, sim: Simulator, item: Any, ack: Any) -> dict[str, Any]:
        before = len(sim.truth.acks)
        sim.add([item])
        ids = ("event_id", "trigger_id")
        while True:
            frame = json.loads(self.ws.recv(timeout=5))
            if frame["type"] == item.kind and all(frame["payload"].get(k) == item.payload.get(k) for k in ids):
                break
            self.others.append(frame)
            self.ws.send(json.dumps({"envelope_id": frame["envelope_id"]}))
            before += 1
        reply = {"envelope_id": frame["envelope_id"]} if ack is None else {"envelope_id": frame["envelope_id"], **ack}
        self.ws.send(json.dumps(reply))
        assert wait_until(lambda: len(sim.truth.acks) > before)
        return frame


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator([], speed=None) as simulator:
        yield simulator


def test_simulator_plays_answers_as_slack_would(sim: Simulator) -> None:
    client = AckingClient(sim)
    in_channel = {"payload": {"text": "deploying api", "response_type": "in_channel"}}
    client.answer(sim, payload("slash_command", command="/deploy", channel="random", seed=1), in_channel)
    client.answer(sim, payload("slash_command", command="/deploy", seed=2), {"payload": {"text": "only you"}})
    client.answer(sim, payload("block_suggestion", seed=3), {"payload": OPTIONS})
    submitted = payload("view_submission", seed=4)
    client.answer(sim, submitted, {"payload": {"response_action": "update", "view": MODAL}})
    client.answer(sim, payload("message", seed=5), {"payload": {"text": "not accepted"}})
    client.answer(sim, payload("slash_command", seed=6), {"payload": ["not", "an", "object"]})
    client.answer(sim, payload("slash_command", seed=7), {"payload": {}})  # an empty answer is no answer
    client.answer(sim, payload("slash_command", seed=8), None)
    responses = sim.truth.responses
    assert [(r["type"], r["effect"]) for r in responses] == [
        ("/deploy", "in_channel"),
        ("/deploy", "ephemeral"),
        ("block_suggestion", "options"),
        ("view_submission", "update"),
        ("events_api", None),
        ("/deploy", None),
    ]
    assert "did not accept" in responses[4]["error"] and "JSON object" in responses[5]["error"]
    # the in_channel reply: a message in the channel, from the bot, and its message event
    posted = sim.web.answers[0]
    assert posted["channel"] == sim.scenario.workspace.channel("random").id and posted["ts"]
    assert sim.web.messages[posted["channel"]][-1]["text"] == "deploying api"
    bot_event = client.others[0]
    assert bot_event["type"] == "events_api" and bot_event["payload"]["event"]["bot_id"] == sim.web.workspace.bot_id
    assert bot_event["payload"]["event"]["text"] == "deploying api"
    # the ephemeral reply posts nothing; the modal was replaced in place
    assert len(sim.web.messages.get(posted["channel"], [])) == 1
    view_id = submitted.payload["view"]["id"]
    assert sim.web.answers[3]["view_id"] == view_id and sim.web.views[view_id]["title"]["text"] == "Next"
    assert len(sim.web.answers) == 4  # ignored answers never reach the workspace
    client.ws.close()


# ------------------------------------------------------------------ the listener over loopback


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Capture]:
    cap = slacklab.listen(scenario=[], speed=None, simulate=True, journal=tmp_path / "run.jsonl")
    try:
        assert cap.simulator.wait_connections(1, 10)
        yield cap
    finally:
        cap.stop()


def _row(cap: Capture, event_type: str) -> pd.Series:
    df = cap.df
    rows = df[df["event_type"] == event_type]
    assert len(rows) == 1, df[["kind", "event_type"]]
    return rows.iloc[0]


def test_slash_command_answered_in_the_ack_and_recorded(live: Capture) -> None:
    sim = live.simulator
    live.respond("/deploy", lambda p: {"text": f"deploying {p['text']}", "response_type": "in_channel"})
    answer = send_and_wait_for_answer(sim, payload("slash_command", command="/deploy", text="api"))
    assert answer["response"] == {"text": "deploying api", "response_type": "in_channel"}
    assert answer["effect"] == "in_channel" and answer["error"] is None
    # the simulator posted it and sent the bot's message event, which the listener captured
    assert live.wait_for(2) == 2
    assert wait_until(lambda: (live.df["bot_id"] == sim.web.workspace.bot_id).any())
    row = _row(live, "/deploy")
    assert json.loads(row["response_payload"]) == answer["response"] and row["ack_ms"] > 0
    assert row["accepts_response_payload"]
    assert pd.isna(live.df[live.df["kind"] == "events_api"].iloc[0]["response_payload"])
    assert "answered 1" in repr(live.responders)
    # a reloaded journal says the same
    live.stop()
    again = slacklab.load(live.journal_path)
    assert _row(again, "/deploy")["response_payload"] == row["response_payload"]
    assert live.problems().empty


def test_block_suggestion_answered(live: Capture) -> None:
    live.respond("block_suggestion", lambda p: OPTIONS if p["value"] == "ap" else {"options": []}, action_id="search")
    answer = send_and_wait_for_answer(live.simulator, payload("block_suggestion", value="ap"))
    assert answer["response"] == OPTIONS and answer["effect"] == "options"
    live.wait_for(1)
    assert json.loads(_row(live, "block_suggestion")["response_payload"]) == OPTIONS


def test_slow_responder_empty_ack_problem_row_and_others_acked_meanwhile(live: Capture) -> None:
    sim, release = live.simulator, threading.Event()

    def slow(p: dict[str, Any]) -> dict[str, Any]:
        release.wait(10)
        return {"text": "too late"}

    live.respond("/slow", slow, deadline=0.5)
    sim.add([payload("slash_command", command="/slow", seed=1)])
    assert wait_until(lambda: len(sim.truth.deliveries) == 1)
    sim.add([payload("message", text=f"m{i}", seed=10 + i) for i in range(5)])
    assert wait_until(lambda: sum(d["acked_at"] is not None for d in sim.truth.deliveries) == 6)
    release.set()
    assert wait_until(lambda: len(live.problems()) == 1)
    deliveries = sim.truth.deliveries
    slow_ack = deliveries[0]["acked_at"]
    assert all(d["acked_at"] < slow_ack for d in deliveries[1:])  # read and acked while the responder ran
    assert all(not d["ack_late"] for d in deliveries) and not sim.truth.retries
    assert sim.truth.responses == ()  # an empty ack: no answer reached Slack
    problem = live.problems().iloc[0]["problem"]
    assert re.fullmatch(
        r"responder for /slow took \d+\.\d s; sent an empty ack at its 0\.5 s deadline and dropped its answer", problem
    ), problem
    row = _row(live, "/slow")
    assert pd.isna(row["response_payload"]) and row["ack_ms"] >= 500
    assert "late 1" in repr(live.responders)


def test_raising_responder_empty_ack_and_masked_problem(live: Capture) -> None:
    sim = live.simulator

    def boom(p: dict[str, Any]) -> None:
        raise RuntimeError(f"could not post with {FAKE_TOKEN}")

    live.respond("/boom", boom)
    sim.add([payload("slash_command", command="/boom")])
    assert wait_until(lambda: len(live.problems()) == 1)
    problem = live.problems().iloc[0]["problem"]
    assert problem.startswith("responder for /boom raised RuntimeError: could not post with xoxb-")
    assert FAKE_TOKEN not in problem and problem.endswith("sent an empty ack")
    assert wait_until(lambda: sim.truth.deliveries[0]["acked_at"] is not None)
    assert sim.truth.responses == () and "failed 1" in repr(live.responders)


def test_recorded_answers_are_masked(live: Capture) -> None:
    secret = {"text": f"token {FAKE_TOKEN}", "response_url": FAKE_HOOK}
    live.respond("/secret", lambda p: secret)
    answer = send_and_wait_for_answer(live.simulator, payload("slash_command", command="/secret"))
    assert answer["response"] == secret  # Slack got what the app sent
    live.wait_for(1)
    recorded = _row(live, "/secret")["response_payload"]
    assert FAKE_TOKEN not in recorded and "SIMULATEDFAKE" not in recorded and "xoxb-" in recorded
    live.stop()
    journal = Path(live.journal_path).read_text(encoding="utf-8")
    ack_lines = [line for line in journal.splitlines() if line.startswith('{"k":"a"')]
    assert any('"p":' in line for line in ack_lines)
    assert all(FAKE_TOKEN not in line and "SIMULATEDFAKE" not in line for line in ack_lines)
