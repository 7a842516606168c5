"""The simulator's Web API: what a Bolt app calls, answered from the simulated workspace with Slack's shapes and errors."""

from __future__ import annotations

from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from slacklab.sim.scenario import ScenarioBuilder, Workspace
from slacklab.sim.server import Simulator
from slacklab.sim.webapi_methods import BOT_TOKEN, SlackState

NOW = 1767268900.0


def state(workspace: Workspace | None = None) -> SlackState:
    return SlackState(workspace or Workspace())


def call(s: SlackState, method: str, **params: Any) -> dict[str, Any]:
    return s.call(method, BOT_TOKEN, params, NOW).body


@pytest.mark.parametrize(
    ("method", "params", "error"),
    [
        ("chat.postMessage", {"channel": "C0NOPE", "text": "x"}, "channel_not_found"),
        ("chat.postMessage", {"channel": "general"}, "no_text"),
        ("chat.update", {"channel": "C0SIMGENERAL", "ts": "1.0", "text": "x"}, "message_not_found"),
        ("chat.postEphemeral", {"channel": "C0SIMGENERAL", "user": "U0NOPE", "text": "x"}, "user_not_in_channel"),
        ("reactions.add", {"channel": "C0SIMGENERAL", "timestamp": "1.0", "name": "tada"}, "message_not_found"),
        ("conversations.info", {"channel": "C0NOPE"}, "channel_not_found"),
        ("conversations.history", {"channel": "C0NOPE"}, "channel_not_found"),
        ("conversations.replies", {"channel": "C0SIMGENERAL"}, "invalid_arguments"),
        ("users.info", {"user": "U0NOPE"}, "user_not_found"),
        ("views.open", {"view": {"type": "modal"}}, "invalid_arguments"),
        ("views.update", {"view_id": "V0NOPE", "view": {"type": "modal"}}, "not_found"),
        ("views.publish", {"user_id": "U0NOPE", "view": {"type": "home"}}, "user_not_found"),
        ("chat.scheduleMessage", {}, "unknown_method"),
    ],
)
def test_bad_input_gets_slacks_error(method: str, params: dict[str, Any], error: str) -> None:
    s = state()
    answer = s.call(method, BOT_TOKEN, params, NOW)
    assert (answer.status, answer.body) == (200, {"ok": False, "error": error} | answer.body)
    assert answer.body["error"] == error and answer.events == ()
    assert s.calls[-1].error == error


@pytest.mark.parametrize(
    ("token", "error"),
    [
        (None, "not_authed"),
        ("", "not_authed"),
        ("xoxb-other", "invalid_auth"),
        ("xapp-1-A0SIMAPP-0000-SIMULATED", "not_allowed_token_type"),
    ],
)
def test_tokens(token: str | None, error: str) -> None:
    answer = state().call("auth.test", token, {}, NOW)
    assert answer.body == {"ok": False, "error": error}


def test_auth_test_names_the_bot_and_grid_org() -> None:
    assert call(state(), "auth.test")["bot_id"] == "B0SIMBOT"
    grid = call(state(Workspace.enterprise()), "auth.test")
    assert (grid["enterprise_id"], grid["team_id"], grid["user_id"]) == ("E0SIMORG", "T0SIMGRID", "U0SIMBOT")


def test_post_update_react_and_read_back() -> None:
    s = state()
    posted = s.call("chat.postMessage", BOT_TOKEN, {"channel": "general", "text": "hello"}, NOW)
    ts = posted.body["ts"]
    (event,) = [i.payload["event"] for i in posted.events]
    assert (event["type"], event["bot_id"], event["channel"], event["ts"]) == (
        "message",
        "B0SIMBOT",
        "C0SIMGENERAL",
        ts,
    )
    reply = s.call("chat.postMessage", BOT_TOKEN, {"channel": "C0SIMGENERAL", "text": "more", "thread_ts": ts}, NOW)
    assert reply.body["ts"] > ts
    updated = s.call("chat.update", BOT_TOKEN, {"channel": "C0SIMGENERAL", "ts": ts, "text": "hello!"}, NOW + 1)
    changed = updated.events[0].payload["event"]
    assert changed["subtype"] == "message_changed" and changed["message"]["ts"] == ts
    assert changed["previous_message"]["text"] == "hello" and changed["message"]["text"] == "hello!"
    reacted = s.call("reactions.add", BOT_TOKEN, {"channel": "C0SIMGENERAL", "timestamp": ts, "name": "tada"}, NOW)
    assert reacted.events[0].payload["event"]["item"] == {"type": "message", "channel": "C0SIMGENERAL", "ts": ts}
    assert call(s, "reactions.add", channel="C0SIMGENERAL", timestamp=ts, name="tada")["error"] == "already_reacted"
    history = call(s, "conversations.history", channel="general")["messages"]
    assert [m["text"] for m in history] == ["hello!"] and history[0]["reactions"][0]["count"] == 1
    thread = call(s, "conversations.replies", channel="general", ts=ts)["messages"]
    assert [m["text"] for m in thread] == ["hello!", "more"]
    assert (
        s.call("chat.postEphemeral", BOT_TOKEN, {"channel": "general", "user": "alice", "text": "psst"}, NOW).events
        == ()
    )


def test_scenario_messages_show_in_history() -> None:
    s = state()
    b = ScenarioBuilder(seed=2)
    item = b.message(0.0, "from the scenario", channel="random")
    s.observe(item)
    assert call(s, "conversations.history", channel="C0SIMRANDOM")["messages"][0]["text"] == "from the scenario"


def test_lists_views_and_users() -> None:
    s = state(Workspace.enterprise())
    channels = call(s, "conversations.list")["channels"]
    assert any(c["is_ext_shared"] for c in channels) and all("name" in c for c in channels)
    members = call(s, "users.list")["members"]
    assert members[-1]["is_bot"] and any(m["team_id"] == "T0SIMPARTNER" for m in members)
    opened = call(
        s,
        "views.open",
        trigger_id="1.2.3",
        view='{"type": "modal", "callback_id": "t", "title": {"type": "plain_text", "text": "T"}, "blocks": []}',
    )
    view_id = opened["view"]["id"]
    assert opened["view"]["callback_id"] == "t" and opened["view"]["team_id"] == "T0SIMGRID"
    updated = call(s, "views.update", view_id=view_id, view={"type": "modal", "callback_id": "t2"})
    assert updated["view"]["id"] == view_id and updated["view"]["callback_id"] == "t2"
    assert call(s, "views.publish", user_id="alice", view={"type": "home", "blocks": []})["view"]["type"] == "home"


def test_ratelimited_knob() -> None:
    s = state()
    s.fail_next("chat.postMessage", retry_after=2.5)
    answer = s.call("chat.postMessage", BOT_TOKEN, {"channel": "general", "text": "x"}, NOW)
    assert (answer.status, answer.body, answer.headers) == (
        429,
        {"ok": False, "error": "ratelimited"},
        {"Retry-After": "3"},
    )
    assert s.call("chat.postMessage", BOT_TOKEN, {"channel": "general", "text": "x"}, NOW).body["ok"]


def test_over_http_with_slack_sdk() -> None:
    with Simulator([], speed=None) as sim:
        client = WebClient(token=sim.bot_token, base_url=sim.api_url)
        assert client.auth_test()["bot_id"] == "B0SIMBOT"
        posted = client.chat_postMessage(
            channel="C0SIMENG", text="from sdk", blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": "hi"}}]
        )
        assert posted["message"]["blocks"][0]["type"] == "section"
        with pytest.raises(SlackApiError) as bad:
            WebClient(token="xoxb-wrong", base_url=sim.api_url).auth_test()
        assert bad.value.response["error"] == "invalid_auth"
        with pytest.raises(SlackApiError) as nochan:
            client.conversations_info(channel="C0NOPE")
        assert nochan.value.response["error"] == "channel_not_found"
        sim.web.fail_next("users.list", retry_after=1)
        with pytest.raises(SlackApiError) as limited:
            client.users_list()
        assert limited.value.response.status_code == 429 and limited.value.response.headers["Retry-After"] == "1"
        # the post is queued as the message event Slack sends (no consumer connected yet: it waits)
        assert sim.stats["items"] == 1 and sim.web.caused[0].payload["event"]["text"] == "from sdk"


def test_local_response_url_moves_only_slacks_hooks() -> None:
    from slacklab.sim.webapi_methods import local_response_url

    b = ScenarioBuilder(seed=1)
    slash = b.slash(0.0, "/deploy")
    moved = local_response_url(slash, "http://127.0.0.1:9/hooks/")
    assert moved.payload["response_url"].startswith("http://127.0.0.1:9/hooks/commands/T0SIMTEAM/")
    assert slash.payload["response_url"].startswith("https://hooks.slack.com/")  # the original is untouched
    message = b.message(0.0, "hi")
    assert local_response_url(message, "http://x/") is message
