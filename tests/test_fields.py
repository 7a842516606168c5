"""slacklab.fields: the event columns of every event family, from payloads written in Slack's documented shapes.

Each fixture below is this project's own example of a family (fake ids, shapes from
Slack's reference pages); the table says which columns it must fill. The real
material (Slack's SDK and Bolt test suites, Slack's docs) is checked in
``test_conformance.py``.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from slacklab.capture import Capture
from slacklab.fields import FIELDS, extract
from slacklab.protocol import parse_frame
from slacklab.schema import COLUMNS, make_row, payload_fields

from .helpers import envelope


def wrap(event: dict[str, Any], **outer: Any) -> dict[str, Any]:
    """An ``event_callback`` body around ``event`` (fake ids)."""
    body: dict[str, Any] = {
        "token": "fake-verification-token",
        "team_id": "T1",
        "api_app_id": "A1",
        "event": event,
        "type": "event_callback",
        "event_id": "Ev1",
        "event_time": 1700000000,
        "authorizations": [
            {"enterprise_id": None, "team_id": "T1", "user_id": "U0BOT", "is_bot": True, "is_enterprise_install": False}
        ],
        "is_ext_shared_channel": False,
    }
    body.update(outer)
    return body


MSG = {"type": "message", "user": "U1", "text": "hi", "ts": "10.000100", "channel": "C1", "event_ts": "10.000100"}

# (name, kind, payload, expected columns)
CASES: list[tuple[str, str, dict[str, Any], dict[str, Any]]] = [
    ("message", "events_api", wrap(dict(MSG)), {"channel": "C1", "user": "U1", "text": "hi", "ts": "10.000100"}),
    (
        "thread reply",
        "events_api",
        wrap({**MSG, "thread_ts": "9.000001", "parent_user_id": "U2"}),
        {"thread_ts": "9.000001", "ts": "10.000100"},
    ),
    (
        "message_changed: the edited message",
        "events_api",
        wrap(
            {
                "type": "message",
                "subtype": "message_changed",
                "hidden": True,
                "message": {"type": "message", "user": "U2", "text": "new", "ts": "5.000001", "thread_ts": "4.0"},
                "previous_message": {"type": "message", "user": "U2", "text": "old", "ts": "5.000001"},
                "channel": "C1",
                "ts": "11.000200",
                "event_ts": "11.000200",
            }
        ),
        {
            "event_subtype": "message_changed",
            "ts": "5.000001",
            "event_ts": "11.000200",
            "user": "U2",
            "text": "new",
            "thread_ts": "4.0",
        },
    ),
    (
        "message_changed by a bot",
        "events_api",
        wrap(
            {
                "type": "message",
                "subtype": "message_changed",
                "message": {"type": "message", "bot_id": "B9", "text": "v2", "ts": "5.0"},
                "channel": "C1",
                "ts": "6.0",
                "event_ts": "6.0",
            }
        ),
        {"bot_id": "B9", "user": None, "ts": "5.0"},
    ),
    (
        "message_deleted: deleted_ts",
        "events_api",
        wrap(
            {
                "type": "message",
                "subtype": "message_deleted",
                "hidden": True,
                "deleted_ts": "5.000001",
                "previous_message": {"type": "message", "user": "U2", "text": "gone", "ts": "5.000001"},
                "channel": "C1",
                "ts": "12.0",
                "event_ts": "12.0",
            }
        ),
        {"ts": "5.000001", "event_ts": "12.0", "user": "U2", "text": "gone", "channel": "C1"},
    ),
    (
        "bot_message",
        "events_api",
        wrap(
            {
                "type": "message",
                "subtype": "bot_message",
                "text": "Build passed",
                "bot_id": "B7",
                "app_id": "A7",
                "username": "ci",
                "ts": "13.0",
                "channel": "C2",
                "event_ts": "13.0",
            }
        ),
        {"bot_id": "B7", "user": None, "text": "Build passed", "event_subtype": "bot_message"},
    ),
    (
        "app's own post",
        "events_api",
        wrap({**MSG, "user": "U0BOT", "bot_id": "B0BOT", "app_id": "A1"}),
        {"bot_id": "B0BOT", "user": "U0BOT"},
    ),
    (
        "thread_broadcast",
        "events_api",
        wrap({**MSG, "subtype": "thread_broadcast", "thread_ts": "9.0", "root": {"ts": "9.0", "user": "U3"}}),
        {"event_subtype": "thread_broadcast", "thread_ts": "9.0", "user": "U1", "ts": "10.000100"},
    ),
    (
        "file_share",
        "events_api",
        wrap({**MSG, "subtype": "file_share", "files": [{"id": "F1"}], "upload": False}),
        {"event_subtype": "file_share", "user": "U1", "channel": "C1"},
    ),
    (
        "channel_join",
        "events_api",
        wrap({**MSG, "subtype": "channel_join", "text": "<@U1> has joined the channel", "inviter": "U2"}),
        {"event_subtype": "channel_join", "user": "U1"},
    ),
    (
        "app_mention",
        "events_api",
        wrap({**MSG, "type": "app_mention", "text": "<@U0BOT> help"}),
        {"event_type": "app_mention", "text": "<@U0BOT> help", "ts": "10.000100"},
    ),
    (
        "reaction_added: the message reacted to",
        "events_api",
        wrap(
            {
                "type": "reaction_added",
                "user": "U3",
                "reaction": "tada",
                "item": {"type": "message", "channel": "C4", "ts": "8.000001"},
                "item_user": "U1",
                "event_ts": "14.0",
            }
        ),
        {"channel": "C4", "ts": "8.000001", "event_ts": "14.0", "user": "U3"},
    ),
    (
        "reaction on a file (no message ts)",
        "events_api",
        wrap(
            {
                "type": "reaction_removed",
                "user": "U3",
                "reaction": "x",
                "item": {"type": "file", "file": "F1"},
                "event_ts": "15.0",
            }
        ),
        {"channel": None, "ts": "15.0", "user": "U3"},
    ),
    (
        "file_shared: *_id fields",
        "events_api",
        wrap(
            {
                "type": "file_shared",
                "channel_id": "D1",
                "file_id": "F1",
                "user_id": "U5",
                "file": {"id": "F1"},
                "event_ts": "16.0",
            }
        ),
        {"channel": "D1", "user": "U5", "ts": "16.0", "event_ts": "16.0"},
    ),
    (
        "channel_created: channel is an object",
        "events_api",
        wrap(
            {
                "type": "channel_created",
                "channel": {"id": "C9", "name": "new", "created": 1700000000, "creator": "U6"},
                "event_ts": "17.0",
            }
        ),
        {"channel": "C9", "user": "U6"},
    ),
    (
        "channel_rename",
        "events_api",
        wrap({"type": "channel_rename", "channel": {"id": "C9", "name": "renamed", "created": 1}, "event_ts": "17.5"}),
        {"channel": "C9", "user": None},
    ),
    (
        "channel_shared (Slack Connect)",
        "events_api",
        wrap(
            {"type": "channel_shared", "connected_team_id": "T9", "channel": "C8", "event_ts": "18.0"},
            is_ext_shared_channel=True,
        ),
        {"channel": "C8", "is_ext_shared_channel": True},
    ),
    (
        "member_joined_channel",
        "events_api",
        wrap(
            {
                "type": "member_joined_channel",
                "user": "U7",
                "channel": "C1",
                "channel_type": "C",
                "team": "T1",
                "inviter": "U1",
            }
        ),
        {"channel": "C1", "user": "U7", "ts": None, "event_ts": None},
    ),
    (
        "user_change: user is an object",
        "events_api",
        wrap({"type": "user_change", "user": {"id": "U8", "name": "eve"}, "event_ts": "19.0"}),
        {"user": "U8"},
    ),
    (
        "app_home_opened",
        "events_api",
        wrap({"type": "app_home_opened", "user": "U1", "channel": "D2", "tab": "home", "event_ts": "20.0"}),
        {"event_type": "app_home_opened", "user": "U1", "channel": "D2"},
    ),
    (
        "assistant_thread_started",
        "events_api",
        wrap(
            {
                "type": "assistant_thread_started",
                "assistant_thread": {
                    "user_id": "U1",
                    "context": {"channel_id": "C1", "team_id": "T1", "enterprise_id": None},
                    "channel_id": "D3",
                    "thread_ts": "21.000001",
                },
                "event_ts": "21.000002",
            }
        ),
        {"user": "U1", "channel": "D3", "thread_ts": "21.000001", "event_ts": "21.000002"},
    ),
    (
        "function_executed: subtype is the function's callback_id",
        "events_api",
        wrap(
            {
                "type": "function_executed",
                "function": {"id": "Fn1", "callback_id": "sample_function", "title": "Sample"},
                "inputs": {"user_id": "U1"},
                "function_execution_id": "Fx1",
                "workflow_execution_id": "Wx1",
                "event_ts": "22.0",
                "bot_access_token": "xwfp-FAKE",
            }
        ),
        {"event_type": "function_executed", "event_subtype": "sample_function", "event_ts": "22.0"},
    ),
    (
        "Enterprise Grid org install",
        "events_api",
        wrap(
            dict(MSG),
            enterprise_id="E1",
            context_team_id="T2",
            context_enterprise_id="E1",
            authorizations=[
                {"enterprise_id": "E1", "team_id": None, "user_id": "W1", "is_bot": True, "is_enterprise_install": True}
            ],
        ),
        {"enterprise_id": "E1", "context_team_id": "T2", "context_enterprise_id": "E1", "is_enterprise_install": True},
    ),
    (
        "enterprise only in authorizations",
        "events_api",
        wrap(
            dict(MSG),
            authorizations=[
                {
                    "enterprise_id": "E2",
                    "team_id": "T1",
                    "user_id": "W1",
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
        ),
        {"enterprise_id": "E2", "is_enterprise_install": False, "is_ext_shared_channel": False},
    ),
    (
        "app_rate_limited",
        "app_rate_limited",
        {
            "token": "x",
            "type": "app_rate_limited",
            "team_id": "T1",
            "minute_rate_limited": 1518467820,
            "api_app_id": "A1",
        },
        {"event_type": "app_rate_limited", "team_id": "T1", "api_app_id": "A1", "event_id": None},
    ),
    (
        "url_verification",
        "url_verification",
        {"token": "x", "challenge": "abc", "type": "url_verification"},
        {"event_type": "url_verification"},
    ),
    (
        "slash command with Grid fields",
        "slash_commands",
        {
            "token": "x",
            "team_id": "T1",
            "enterprise_id": "E1",
            "channel_id": "C1",
            "user_id": "U1",
            "command": "/deploy",
            "text": "",
            "is_enterprise_install": "true",
            "trigger_id": "1.2.3",
        },
        {
            "event_type": "/deploy",
            "text": "",
            "channel": "C1",
            "user": "U1",
            "enterprise_id": "E1",
            "is_enterprise_install": True,
            "trigger_id": "1.2.3",
        },
    ),
    (
        "block_actions on a message",
        "interactive",
        {
            "type": "block_actions",
            "user": {"id": "U2"},
            "team": {"id": "T1", "domain": "x", "enterprise_id": "E1"},
            "trigger_id": "3.4.5",
            "container": {"type": "message", "message_ts": "30.0", "channel_id": "C2"},
            "channel": {"id": "C2"},
            "message": {"text": "Deploy?", "ts": "30.0", "bot_id": "B0BOT", "thread_ts": "29.0"},
            "actions": [{"action_id": "approve", "type": "button", "action_ts": "31.0"}],
        },
        {
            "event_subtype": "approve",
            "ts": "30.0",
            "event_ts": "31.0",
            "channel": "C2",
            "user": "U2",
            "text": "Deploy?",
            "bot_id": "B0BOT",
            "thread_ts": "29.0",
            "enterprise_id": "E1",
        },
    ),
    (
        "block_actions in a modal",
        "interactive",
        {
            "type": "block_actions",
            "user": {"id": "U2"},
            "team": {"id": "T1"},
            "container": {"type": "view", "view_id": "V1"},
            "view": {"id": "V1", "callback_id": "settings"},
            "actions": [{"action_id": "pick", "action_ts": "32.0"}],
            "enterprise": {"id": "E3", "name": "Org"},
            "is_enterprise_install": False,
        },
        {"event_subtype": "pick", "channel": None, "ts": "32.0", "enterprise_id": "E3", "is_enterprise_install": False},
    ),
    (
        "block_suggestion: action_id, not the view's callback_id",
        "interactive",
        {
            "type": "block_suggestion",
            "user": {"id": "U2"},
            "team": {"id": "T1"},
            "action_id": "search",
            "block_id": "b",
            "value": "ab",
            "view": {"id": "V1", "callback_id": "the-modal"},
        },
        {"event_subtype": "search", "text": "ab", "user": "U2"},
    ),
    (
        "global shortcut",
        "interactive",
        {
            "type": "shortcut",
            "action_ts": "33.0",
            "team": {"id": "T1"},
            "user": {"id": "U1"},
            "callback_id": "new_ticket",
            "trigger_id": "5.6.7",
        },
        {"event_subtype": "new_ticket", "event_ts": "33.0", "ts": "33.0", "channel": None},
    ),
    (
        "message shortcut: the message's ts, not the action's",
        "interactive",
        {
            "type": "message_action",
            "action_ts": "35.0",
            "team": {"id": "T1"},
            "user": {"id": "U1"},
            "channel": {"id": "C1", "name": "general"},
            "callback_id": "summarise",
            "trigger_id": "6.7.8",
            "message_ts": "34.000001",
            "message": {"type": "message", "text": "long text", "user": "U4", "ts": "34.000001"},
        },
        {"event_subtype": "summarise", "ts": "34.000001", "event_ts": "35.0", "channel": "C1", "text": "long text"},
    ),
    (
        "view_submission",
        "interactive",
        {
            "type": "view_submission",
            "team": {"id": "T1"},
            "user": {"id": "U1"},
            "api_app_id": "A1",
            "view": {"id": "V1", "callback_id": "ticket_modal", "app_id": "A1", "bot_id": "B0BOT"},
            "trigger_id": "7.8.9",
        },
        {"event_subtype": "ticket_modal", "user": "U1", "ts": None, "bot_id": None},
    ),
    (
        "view_closed",
        "interactive",
        {
            "type": "view_closed",
            "team": {"id": "T1"},
            "user": {"id": "U1"},
            "view": {"id": "V1", "callback_id": "m", "app_id": "A5"},
        },
        {"event_subtype": "m", "api_app_id": "A5"},
    ),
]


def case(name: str) -> dict[str, Any]:
    return next(payload for n, _, payload, _ in CASES if n == name)


@pytest.mark.parametrize(("name", "kind", "payload", "expected"), CASES, ids=[c[0] for c in CASES])
def test_family(name: str, kind: str, payload: dict[str, Any], expected: dict[str, Any]) -> None:
    fields = extract(kind, payload)
    assert set(fields) == set(FIELDS)
    assert {k: fields[k] for k in expected} == expected


def test_every_family_names_its_type_and_team() -> None:
    for _name, kind, payload, _ in CASES:
        fields = extract(kind, payload)
        assert fields["event_type"], _name
        assert fields["team_id"] == ("T1" if kind != "url_verification" else None), _name


def test_fields_are_schema_columns_and_schema_delegates() -> None:
    assert set(FIELDS) <= set(COLUMNS)
    payload = case("message_changed: the edited message")
    assert payload_fields("events_api", payload) == extract("events_api", payload)


def test_accepts_response_payload_comes_from_the_envelope() -> None:
    cap = Capture()
    frame = json.loads(envelope(case("view_closed"), kind="interactive"))
    cap.record_frame(parse_frame(json.dumps(frame)), received_at=1.0, connection="c1")
    frame["accepts_response_payload"] = False
    frame["envelope_id"] = "env-2"
    cap.record_frame(parse_frame(json.dumps(frame)), received_at=2.0, connection="c1")
    assert cap.df["accepts_response_payload"].tolist() == [True, False]


def test_make_row_fills_the_new_columns() -> None:
    payload = case("Enterprise Grid org install")
    row = make_row(source="http", kind="events_api", payload=payload, received_at=1.0)
    assert (row["enterprise_id"], row["context_team_id"], row["is_enterprise_install"]) == ("E1", "T2", True)


# Any JSON at all: extraction never raises, and every column is a str, bool, float or None.
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
_keys = st.sampled_from(
    [
        "type", "event", "user", "channel", "ts", "event_ts", "message", "previous_message", "deleted_ts", "item",
        "subtype", "team", "team_id", "actions", "container", "view", "assistant_thread", "authorizations",
        "enterprise", "enterprise_id", "is_enterprise_install", "function", "user_id", "channel_id", "message_ts",
    ]
)  # fmt: skip
_payloads = st.recursive(_json, lambda children: st.dictionaries(_keys, children, max_size=6), max_leaves=25).filter(
    lambda p: isinstance(p, dict)
)


@settings(max_examples=400, deadline=None)
@given(kind=st.sampled_from(["events_api", "slash_commands", "interactive", "app_rate_limited"]), payload=_payloads)
def test_never_raises_and_types_are_plain(kind: str, payload: dict[str, Any]) -> None:
    fields = extract(kind, payload)
    for name, value in fields.items():
        if name in ("is_enterprise_install", "is_ext_shared_channel"):
            assert value is None or isinstance(value, bool)
        elif name == "event_time":
            assert value is None or isinstance(value, float)
        else:
            assert value is None or isinstance(value, str), (name, value)
