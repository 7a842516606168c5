"""slacklab.testing: the fixture, the reply and ack helpers and the payload factories, used as an app author would."""

from __future__ import annotations

import pytest

from slacklab.capture import Capture
from slacklab.fields import extract
from slacklab.protocol import parse_frame
from slacklab.sim.scenario import Workspace, build_scenario
from slacklab.testing import (
    FAMILIES,
    assert_acked_within,
    payload,
    scenario_from_capture,
    send_and_wait_for_reply,
)

from .helpers import envelope

pytest.importorskip("slack_bolt", reason="slack_bolt is a dev dependency: pip install -e .[dev]")
from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_sdk import WebClient


@pytest.fixture
def bolt_app(slack_simulator):
    """A small Bolt app (mention → threaded reply, /ticket → in-channel response, button → chat.update)."""
    sim = slack_simulator
    app = App(client=WebClient(token=sim.bot_token, base_url=sim.api_url))

    @app.event("app_mention")
    def mention(event, say):
        say(text=f"on it, <@{event['user']}>", thread_ts=event["ts"])

    @app.command("/ticket")
    def ticket(ack, respond, command):
        ack()
        respond(text=f"ticket filed: {command['text']}", response_type="in_channel")

    handler = SocketModeHandler(app, sim.app_token)
    handler.connect()
    yield sim
    handler.close()


def test_mention_gets_a_threaded_reply_acked_in_time(bolt_app) -> None:
    sim = bolt_app
    reply = send_and_wait_for_reply(sim, "deploy status?", channel="deploys", user="chloe")
    assert reply.method == "chat.postMessage"
    assert reply.params["text"] == "on it, <@U0SIMCHLOE>" and reply.params["channel"] == "C0SIMDEPLOYS"
    mention = sim.truth.deliveries[0]
    assert mention["event_type"] == "app_mention"
    item = payload("app_mention", text="again?", seed=5)
    send_and_wait_for_reply(sim, item)
    assert assert_acked_within(sim, item, 3.0) <= 3.0


def test_slash_command_response_url_is_answered_offline(bolt_app) -> None:
    sim = bolt_app
    item = payload("slash_command", command="/ticket", text="printer on fire", channel="support")
    reply = send_and_wait_for_reply(sim, item)
    assert reply.method == "response_url"
    assert reply.params["text"] == "ticket filed: printer on fire"
    # in_channel: the response became a message in the channel, from the bot, like Slack does
    posted = sim.web.messages["C0SIMGENERAL"][-1]
    assert posted["text"] == "ticket filed: printer on fire" and posted["bot_id"] == "B0SIMBOT"


def test_no_reply_says_what_the_app_did(slack_simulator) -> None:
    with pytest.raises(AssertionError, match="no reply to 'app_mention' within 0.3 s"):
        send_and_wait_for_reply(slack_simulator, "anyone?", timeout=0.3)


@pytest.mark.parametrize("grid", [False, True])
@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_factory_extracts_to_its_type(family: str, grid: bool) -> None:
    item = payload(family, workspace=Workspace.enterprise() if grid else None)
    fields = extract(item.kind, dict(item.payload))
    if fields["event_type"] == "message":
        assert fields["event_subtype"] == (None if family in ("message", "thread_reply") else family)
    else:
        assert fields["event_type"] == ("/deploy" if family == "slash_command" else family)
    assert fields["team_id"] == ("T0SIMGRID" if grid else "T0SIMTEAM")
    if item.kind == "events_api" and family != "app_rate_limited":
        assert fields["enterprise_id"] == ("E0SIMORG" if grid else None)
    if item.kind == "interactive":
        assert fields["enterprise_id"] == ("E0SIMORG" if grid else None)
        assert fields["event_subtype"]


def test_unknown_family_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match="block_suggestion"):
        payload("nope")


def test_scenario_from_a_capture_replays_each_event_once_with_its_spacing() -> None:
    scenario = build_scenario(seed=4, events=30, duration=10.0)
    cap = Capture()
    for n, item in enumerate(scenario):
        frame = envelope(dict(item.payload), envelope_id=f"env-{n}", kind=item.kind)
        cap.record_frame(parse_frame(frame), received_at=1000.0 + item.at, connection="c1")
        if n == 3:  # a retry of the same event: replayed once
            retry = envelope(dict(item.payload), envelope_id="env-retry", kind=item.kind, retry_attempt=1)
            cap.record_frame(parse_frame(retry), received_at=1002.0 + item.at, connection="c1")
    again = scenario_from_capture(cap)
    assert [i.kind for i in again] == [i.kind for i in scenario]
    assert [round(i.at, 3) for i in again] == [round(i.at - scenario[0].at, 3) for i in scenario]
    assert [i.payload.get("event_id") for i in again] == [i.payload.get("event_id") for i in scenario]
    assert again[5].payload["type"] == scenario[5].payload["type"]


def test_the_documented_example_passes(tmp_path) -> None:
    """docs/testing.md's example, run as an app author would run it (its own pytest process)."""
    import os
    import re
    import subprocess
    import sys
    from pathlib import Path

    doc = (Path(__file__).parents[1] / "docs" / "testing.md").read_text(encoding="utf-8")
    (example,) = re.findall(r"```python\n(# test_app\.py\n.*?)```", doc, re.S)
    (tmp_path / "test_app.py").write_text(example, encoding="utf-8")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[1]), os.environ.get("PYTHONPATH", "")]),
    }
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_app.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "1 passed" in proc.stdout


def test_workflow_token_in_function_executed_is_masked_in_the_capture() -> None:
    import json

    from slacklab.capture import Capture
    from slacklab.protocol import parse_frame

    item = payload("function_executed")
    assert item.payload["event"]["bot_access_token"].startswith("xwfp-")
    cap = Capture()
    frame = {
        "envelope_id": "e1",
        "type": "events_api",
        "payload": dict(item.payload),
        "accepts_response_payload": False,
    }
    cap.record_frame(parse_frame(json.dumps(frame)), received_at=1.0, connection="c1")
    row = cap.df.iloc[0]
    assert item.payload["event"]["bot_access_token"] not in row["payload"]
    assert (row["event_type"], row["event_subtype"]) == ("function_executed", "summarise_channel")
