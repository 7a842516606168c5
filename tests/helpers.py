"""Small builders shared by the tests: Slack-shaped payloads and frames (valid JSON, fake ids)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any


def wait_until(predicate: Callable[[], object], timeout: float = 10.0, interval: float = 0.02) -> bool:
    """Poll ``predicate`` until it is true or ``timeout`` seconds pass; returns its last truth value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


def event_payload(
    event_id: str = "Ev1",
    *,
    event_type: str = "message",
    text: str = "hello",
    channel: str = "C1",
    user: str = "U1",
    ts: str = "1700000000.000100",
    team: str = "T1",
    app: str = "A1",
    event_time: int = 1700000000,
    **event: Any,
) -> dict[str, Any]:
    """An Events API ``event_callback`` body (the Socket Mode envelope's payload)."""
    return {
        "token": "fake-verification-token",
        "team_id": team,
        "api_app_id": app,
        "event": {
            "type": event_type,
            "user": user,
            "text": text,
            "ts": ts,
            "channel": channel,
            "event_ts": ts,
            **event,
        },
        "type": "event_callback",
        "event_id": event_id,
        "event_time": event_time,
    }


def envelope(
    payload: dict[str, Any],
    envelope_id: str = "env-1",
    kind: str = "events_api",
    retry_attempt: int = 0,
    retry_reason: str = "",
) -> str:
    """A Socket Mode envelope frame as text."""
    return json.dumps(
        {
            "envelope_id": envelope_id,
            "payload": payload,
            "type": kind,
            "accepts_response_payload": kind != "events_api",
            "retry_attempt": retry_attempt,
            "retry_reason": retry_reason,
        }
    )


def slash_payload(trigger_id: str = "111.222.aaa", command: str = "/deploy", text: str = "now") -> dict[str, Any]:
    return {
        "token": "fake-verification-token",
        "team_id": "T1",
        "api_app_id": "A1",
        "channel_id": "C1",
        "user_id": "U1",
        "command": command,
        "text": text,
        "trigger_id": trigger_id,
        "response_url": "https://hooks.slack.invalid/commands/T1/1/fake",
    }


def block_action_payload(trigger_id: str = "333.444.bbb") -> dict[str, Any]:
    return {
        "type": "block_actions",
        "team": {"id": "T1", "domain": "example"},
        "user": {"id": "U2"},
        "api_app_id": "A1",
        "token": "fake-verification-token",
        "trigger_id": trigger_id,
        "container": {"type": "message", "message_ts": "1700000000.000200", "channel_id": "C2"},
        "channel": {"id": "C2", "name": "general"},
        "message": {"text": "Deploy?", "ts": "1700000000.000200"},
        "actions": [
            {
                "action_id": "approve",
                "block_id": "b1",
                "value": "yes",
                "type": "button",
                "action_ts": "1700000001.000300",
            }
        ],
    }
