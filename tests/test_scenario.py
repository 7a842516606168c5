"""Scenario: seeded, reproducible fake-workspace traffic with Slack's payload shapes."""

from __future__ import annotations

import base64
import json

import pytest

from slacklab.schema import event_key, payload_fields
from slacklab.sim.scenario import (
    DEFAULT_WORKSPACE,
    Scenario,
    ScenarioBuilder,
    ScenarioItem,
    build_scenario,
)


def test_same_seed_same_scenario_different_seed_different():
    a, b = build_scenario(seed=3), build_scenario(seed=3)
    assert a == b
    assert json.dumps([i.payload for i in a]) == json.dumps([i.payload for i in b])
    assert build_scenario(seed=4) != a


def test_size_duration_and_order():
    s = build_scenario(seed=0, events=200, duration=60.0)
    assert len(s) == 200
    ats = [i.at for i in s]
    assert ats == sorted(ats)
    assert ats[0] >= 0 and ats[-1] <= 60.0
    assert s.duration == ats[-1]
    assert len(build_scenario(events=0)) == 0
    assert len(build_scenario(events=1)) == 1


@pytest.mark.parametrize(("seed", "events"), [(0, 200), (1, 200), (2, 60), (3, 40), (4, 100)])
def test_the_mix_covers_every_kind(seed, events):
    s = build_scenario(seed=seed, events=events)
    labels = set(s.counts())
    for want in (
        "message",
        "message/thread_reply",
        "message/thread_broadcast",
        "message/message_changed",
        "message/message_deleted",
        "message/bot_message",
        "message/channel_join",
        "reaction_added",
        "reaction_removed",
        "app_mention",
        "member_joined_channel",
        "block_actions",
    ):
        assert want in labels, (seed, want)
    assert any(label.startswith("/") for label in labels)
    kinds = {i.kind for i in s}
    assert kinds == {"events_api", "slash_commands", "interactive"}


def test_event_ids_unique_and_event_time_from_fixed_epoch():
    s = build_scenario(seed=5)
    events = [i for i in s if i.kind == "events_api" and i.payload["type"] == "event_callback"]
    ids = [i.payload["event_id"] for i in events]
    assert len(ids) == len(set(ids))
    assert all(e.startswith("Ev") and len(e) == 12 for e in ids)
    for i in events:
        assert i.payload["event_time"] == int(DEFAULT_WORKSPACE.start_epoch + i.at)
    triggers = [i.payload["trigger_id"] for i in s if i.kind != "events_api" and "trigger_id" in i.payload]
    # Slack sends no trigger with options requests and closed modals
    assert all(
        i.payload["type"] in ("block_suggestion", "view_closed")
        for i in s
        if i.kind == "interactive" and "trigger_id" not in i.payload
    )
    assert len(triggers) == len(set(triggers))


def test_events_api_payload_shape():
    for item in build_scenario(seed=1):
        if item.kind != "events_api":
            continue
        p = item.payload
        assert p["token"] == "SIMULATED-verification-token"
        assert p["team_id"] == "T0SIMTEAM" and p["api_app_id"] == "A0SIMAPP"
        if p["type"] == "app_rate_limited":  # a body of its own, without an event
            assert p["minute_rate_limited"] % 60 == 0
            continue
        assert p["type"] == "event_callback"
        assert p["is_ext_shared_channel"] is (p["event"]["type"] == "channel_shared")
        assert "enterprise_id" not in p and p["context_enterprise_id"] is None
        auth = p["authorizations"][0]
        assert auth["is_bot"] is True and auth["user_id"] == "U0SIMBOT"
        ctx = json.loads(base64.urlsafe_b64decode(p["event_context"][2:] + "=="))
        assert ctx["et"] == p["event"]["type"] and ctx["tid"] == "T0SIMTEAM"
        ev = p["event"]
        assert ev["type"] in {
            "message",
            "reaction_added",
            "reaction_removed",
            "app_mention",
            "member_joined_channel",
            "file_shared",
            "app_home_opened",
            "assistant_thread_started",
            "function_executed",
            "channel_shared",
        }
        assert "event_ts" in ev
        if ev["type"] == "message":
            assert ev["channel"].startswith(("C0SIM", "D0SIM"))
            assert ev["channel_type"] in {"channel", "im"}
            assert ev["ts"] == ev["event_ts"]
        fields = payload_fields("events_api", p)
        assert fields["event_id"] == p["event_id"]
        assert fields["channel"] or ev["type"] == "function_executed"
        assert fields["user"] or ev["type"] in ("channel_shared", "function_executed") or ev.get("bot_id")


def test_subtype_details():
    s = build_scenario(seed=2)
    by_label: dict[str, list[ScenarioItem]] = {}
    for i in s:
        by_label.setdefault(i.label, []).append(i)
    changed = by_label["message/message_changed"][0].payload["event"]
    assert changed["hidden"] is True and changed["message"]["edited"]["ts"] == changed["ts"]
    deleted = by_label["message/message_deleted"][0].payload["event"]
    assert deleted["deleted_ts"] != deleted["ts"]
    reply = by_label["message/thread_reply"][0].payload["event"]
    assert reply["thread_ts"] != reply["ts"] and reply["parent_user_id"].startswith("U0SIM")
    bot = by_label["message/bot_message"][0].payload["event"]
    assert bot["bot_id"] and "user" not in bot
    reaction = by_label["reaction_added"][0].payload["event"]
    assert reaction["item"]["type"] == "message" and reaction["item"]["ts"]
    mention = by_label["app_mention"][0].payload["event"]
    assert mention["text"].startswith("<@U0SIMBOT>")
    # Slack sends the matching message event too, with its own event_id
    twins = [i for i in by_label["message"] if i.payload["event"]["ts"] == mention["ts"]]
    assert twins and twins[0].payload["event_id"] != by_label["app_mention"][0].payload["event_id"]


def test_slash_and_block_actions_shape():
    s = build_scenario(seed=0)
    slash = next(i for i in s if i.kind == "slash_commands").payload
    for k in (
        "token",
        "team_id",
        "team_domain",
        "channel_id",
        "channel_name",
        "user_id",
        "user_name",
        "command",
        "text",
        "api_app_id",
        "response_url",
        "trigger_id",
    ):
        assert k in slash
    assert slash["command"].startswith("/")
    assert "SIMULATED" in slash["response_url"]
    action = next(i for i in s if i.kind == "interactive").payload
    assert action["type"] == "block_actions" and action["trigger_id"]
    assert action["actions"][0]["action_id"] in {"approve_deploy", "reject_deploy", "ack_incident", "vote_lunch"}
    assert payload_fields("interactive", action)["event_subtype"] == action["actions"][0]["action_id"]
    assert event_key(
        event_id=None, team_id="T0SIMTEAM", api_app_id="A0SIMAPP", trigger_id=action["trigger_id"], envelope_id=None
    ).startswith("trigger:")


def test_texts_include_csv_injection_cases_and_non_ascii():
    s = build_scenario(seed=0)
    texts = [payload_fields(i.kind, dict(i.payload))["text"] or "" for i in s]
    starts = {t[:1] for t in texts if t}
    assert {"=", "+", "-", "@"} <= starts
    assert any(not t.isascii() for t in texts)


def test_builder_hand_made_items():
    b = ScenarioBuilder(seed=9)
    first = b.message(2.0, "deploy went fine", channel="deploys", user="bob")
    b.reaction(2.5, first, "tada", user="alice")
    b.reaction(3.0, first, "tada", user="alice", removed=True)
    b.reply(1.0, first, "nice", broadcast=True)
    b.edit(4.0, first, "deploy went fine!")
    b.delete(5.0, first)
    b.join(6.0, user="erik", channel="random")
    b.bot_message(7.0, "Build #1 passed")
    b.app_mention(8.0, "status?", with_message=False)
    b.slash(9.0, "/deploy", "api staging")
    b.block_action(10.0, "approve_deploy", value="x", label="Approve")
    b.event(11.0, {"type": "app_home_opened", "user": "U0SIMBOB", "channel": "D0SIMBOTDM", "tab": "home"})
    s = b.build()
    assert len(s) == 13
    assert [i.at for i in s] == sorted(i.at for i in s)
    assert s[0].label == "message/thread_broadcast"  # at 1.0 sorts first
    ev = first.payload["event"]
    assert ev["channel"] == "C0SIMDEPLOYS" and ev["user"] == "U0SIMBOB"
    assert s.counts()["message/channel_join"] == 1
    again = ScenarioBuilder(seed=9)
    assert again.message(2.0, "deploy went fine", channel="deploys", user="bob") == first


def test_from_items_sorts_validates_and_merges():
    b = ScenarioBuilder()
    x = b.message(5.0, "later")
    y = b.message(1.0, "earlier")
    s = Scenario.from_items([x, y])
    assert [i.at for i in s] == [1.0, 5.0]
    merged = s + Scenario.from_items([ScenarioItem(3.0, "events_api", {"type": "event_callback"})])
    assert [i.at for i in merged] == [1.0, 3.0, 5.0]
    with pytest.raises(ValueError):
        Scenario.from_items([ScenarioItem(0.0, "bogus", {})])
    with pytest.raises(ValueError):
        Scenario.from_items([ScenarioItem(-1.0, "events_api", {})])
    with pytest.raises(TypeError):
        Scenario.from_items([{"at": 0}])  # type: ignore[list-item]
    assert "2 items" in repr(s)


def test_workspace_lookup_and_bad_refs():
    ws = DEFAULT_WORKSPACE
    assert ws.channel("#general").id == "C0SIMGENERAL"
    assert ws.user("@chloe").id == "U0SIMCHLOE"
    with pytest.raises(KeyError):
        ws.channel("nope")
    with pytest.raises(KeyError):
        ws.user("nope")
    with pytest.raises(ValueError):
        ScenarioBuilder().reaction(0.0, ScenarioBuilder().slash(0.0, "/x"), "eyes")


def test_build_scenario_arguments():
    with pytest.raises(ValueError):
        build_scenario(events=-1)
    with pytest.raises(ValueError):
        build_scenario(weights={"nonsense": 1})
    only_slash = build_scenario(events=10, weights={"slash": 1})
    assert {i.kind for i in only_slash} == {"slash_commands"}


def test_id_less_families_are_opt_in():
    default = build_scenario(seed=1, events=400)
    assert not {"view_closed", "block_suggestion", "app_rate_limited"} & set(default.counts())
    from slacklab.sim.scenario import DEFAULT_WEIGHTS

    weights = {**DEFAULT_WEIGHTS, "view_closed": 1, "block_suggestion": 1, "rate_limited": 1}
    mixed = build_scenario(seed=1, events=400, weights=weights)
    assert {"view_closed", "block_suggestion", "app_rate_limited"} <= set(mixed.counts())
    labels = mixed.counts()
    assert labels["message"] == max(labels.values())  # messages dominate
