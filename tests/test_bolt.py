"""An unmodified Bolt app runs against the simulator: Socket Mode in, Web API out, all offline.

The app is what Bolt's own README shows (``App`` + ``SocketModeHandler``), pointed at
the simulator by ``App(client=WebClient(token=sim.bot_token, base_url=sim.api_url))``
(Bolt ignores ``token=`` when a ``client`` is given, so the token goes in the client);
nothing in it knows about slacklab.
"""

from __future__ import annotations

import pytest

from slacklab.sim.scenario import ScenarioBuilder
from slacklab.sim.server import Simulator

from .helpers import wait_until

slack_bolt = pytest.importorskip("slack_bolt", reason="slack_bolt is a dev dependency: pip install -e .[dev]")
from slack_bolt import App  # noqa: E402
from slack_bolt.adapter.socket_mode import SocketModeHandler  # noqa: E402
from slack_sdk import WebClient  # noqa: E402


def test_a_stock_bolt_app_replies_to_a_mention_and_slack_sends_the_reply_as_an_event() -> None:
    b = ScenarioBuilder(seed=3)
    mention = b.app_mention(0.5, "what's the status of the deploy?", channel="engineering", user="bob")
    with Simulator(b.build(), speed=10, ack_timeout=5.0) as sim:
        app = App(client=WebClient(token=sim.bot_token, base_url=sim.api_url))

        @app.event("app_mention")
        def on_mention(event, say):
            say(text=f"on it, <@{event['user']}>", thread_ts=event["ts"])

        @app.event("message")
        def on_message(event):
            pass

        handler = SocketModeHandler(app, sim.app_token)
        handler.connect()
        try:
            assert wait_until(lambda: any(c.method == "chat.postMessage" for c in sim.web.calls), timeout=20)
            caused = [i for i in sim.web.caused if i.payload["event"]["type"] == "message"]
            assert wait_until(lambda: sim.wait_done(0) and caused, timeout=20)
        finally:
            handler.close()
    methods = [c.method for c in sim.web.calls]
    assert methods[0] == "auth.test"  # Bolt's SingleTeamAuthorization, which used to fail
    post = next(c for c in sim.web.calls if c.method == "chat.postMessage")
    assert post.ok and post.params["channel"] == "C0SIMENG"
    assert post.params["thread_ts"] == mention.payload["event"]["ts"]
    # the simulator's record: the reply is in the channel's history, from the bot
    reply = sim.web.messages["C0SIMENG"][-1]
    assert reply["text"] == "on it, <@U0SIMBOB>" and reply["bot_id"] == "B0SIMBOT"
    # ground truth: Slack sent the reply back as a message event with the bot's bot_id, and it was acked
    (event_item,) = [i for i in sim.web.caused if i.payload["event"].get("text") == reply["text"]]
    event = event_item.payload["event"]
    assert (event["type"], event["bot_id"], event["user"], event["ts"]) == (
        "message",
        "B0SIMBOT",
        "U0SIMBOT",
        reply["ts"],
    )
    key = f"A0SIMAPP/T0SIMTEAM/{event_item.payload['event_id']}"
    truth = sim.truth
    assert key in truth.events and key in truth.acked_events
    assert truth.summary()["lost_events"] == 0
