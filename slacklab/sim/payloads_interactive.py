"""Slash commands and every interactive payload type (pure).

:class:`InteractivePayloads` is part of :class:`slacklab.sim.payloads.ScenarioBuilder`;
use that. ``slash_commands``: :meth:`~InteractivePayloads.slash`. ``interactive``:
``block_actions`` (:meth:`~InteractivePayloads.block_action`), ``block_suggestion``,
``shortcut`` (global), ``message_action`` (message shortcut), ``view_submission``
and ``view_closed``. In an Enterprise Grid workspace (:meth:`Workspace.enterprise`)
they carry the org in ``team`` and ``enterprise`` as Slack sends them.
"""

from __future__ import annotations

from typing import Any

from slacklab.sim.payload_base import BuilderBase, message_event, view_object
from slacklab.sim.workspace import Channel, ScenarioItem, User

__all__ = ["InteractivePayloads"]


class InteractivePayloads(BuilderBase):
    """Slash commands and interactivity (mixed into :class:`~slacklab.sim.payloads.ScenarioBuilder`)."""

    def _interactive(self, at: float, payload: dict[str, Any]) -> ScenarioItem:
        return self._add(ScenarioItem(float(at), "interactive", payload))

    def _view(self, callback_id: str, values: dict[str, Any] | None = None) -> dict[str, Any]:
        blocks = [
            {
                "type": "input",
                "block_id": "details",
                "label": {"type": "plain_text", "text": "Details"},
                "optional": False,
                "element": {"type": "plain_text_input", "action_id": "details_input"},
            },
            {
                "type": "input",
                "block_id": "search",
                "label": {"type": "plain_text", "text": "Search"},
                "optional": True,
                "element": {"type": "external_select", "action_id": "search"},
            },
        ]
        return view_object(
            self.workspace, self._slack_id("V0"), callback_id, title="Simulated", blocks=blocks, values=values
        )

    def slash(
        self,
        at: float,
        command: str,
        text: str = "",
        *,
        channel: str | Channel | None = None,
        user: str | User | None = None,
    ) -> ScenarioItem:
        """A slash command (``/deploy api staging``) as its Socket Mode payload."""
        ws = self.workspace
        ch, u = ws.channel(channel), ws.user(user)
        payload = {
            "token": ws.verification_token,
            "team_id": ws.team_id,
            "team_domain": ws.team_domain,
            "channel_id": ch.id,
            "channel_name": ch.name or "directmessage",
            "user_id": u.id,
            "user_name": u.name,
            "command": command,
            "text": text,
            "api_app_id": ws.app_id,
            "is_enterprise_install": "true" if ws.is_enterprise_install else "false",
            "response_url": self._response_url("commands"),
            "trigger_id": self._trigger_id(),
        }
        if ws.enterprise_id:
            payload.update(enterprise_id=ws.enterprise_id, enterprise_name=ws.enterprise_name)
        return self._add(ScenarioItem(float(at), "slash_commands", payload))

    def block_action(
        self,
        at: float,
        action_id: str,
        *,
        value: str = "",
        label: str = "OK",
        message_text: str = "",
        channel: str | Channel | None = None,
        user: str | User | None = None,
    ) -> ScenarioItem:
        """A ``block_actions`` button click on a message the app's bot posted earlier."""
        ws = self.workspace
        ch, u = ws.channel(channel), ws.user(user)
        message_ts = self._ts(max(0.0, at - 5.0))
        block_id = self._uuid()[:4]
        text = {"type": "plain_text", "text": label, "emoji": True}
        button = {"type": "button", "action_id": action_id, "value": value, "text": text}
        payload = {
            "type": "block_actions",
            "user": self._user(u),
            "api_app_id": ws.app_id,
            "token": ws.verification_token,
            "container": {"type": "message", "message_ts": message_ts, "channel_id": ch.id, "is_ephemeral": False},
            "trigger_id": self._trigger_id(),
            "team": self._team(),
            **self._org(),
            "channel": {"id": ch.id, "name": ch.name},
            "message": {
                "type": "message",
                "user": ws.bot_user_id,
                "bot_id": ws.bot_id,
                "app_id": ws.app_id,
                "text": message_text,
                "ts": message_ts,
                "team": ws.team_id,
                "blocks": [{"type": "actions", "block_id": block_id, "elements": [button]}],
            },
            "state": {"values": {}},
            "response_url": self._response_url("actions"),
            "actions": [
                {
                    "action_id": action_id,
                    "block_id": block_id,
                    "text": text,
                    "value": value,
                    "type": "button",
                    "action_ts": self._ts(at),
                }
            ],
        }
        return self._interactive(at, payload)

    def block_suggestion(
        self, at: float, action_id: str = "search", value: str = "", *, user: str | User | None = None
    ) -> ScenarioItem:
        """``block_suggestion``: an ``external_select`` in a modal asks for options (``value``: typed so far)."""
        ws = self.workspace
        view = self._view("ticket_modal")
        payload = {
            "type": "block_suggestion",
            "user": self._user(ws.user(user)),
            "container": {"type": "view", "view_id": view["id"]},
            "api_app_id": ws.app_id,
            "token": ws.verification_token,
            "action_id": action_id,
            "block_id": "search",
            "value": value,
            "team": self._team(),
            **self._org(),
            "view": view,
        }
        return self._interactive(at, payload)

    def shortcut(self, at: float, callback_id: str, *, user: str | User | None = None) -> ScenarioItem:
        """A global shortcut (``type: "shortcut"``), started from the shortcuts menu."""
        ws = self.workspace
        u = ws.user(user)
        payload = {
            "type": "shortcut",
            "token": ws.verification_token,
            "action_ts": self._ts(at),
            "team": self._team(),
            "user": {"id": u.id, "username": u.name, "team_id": u.team_id or ws.team_id},
            **self._org(),
            "callback_id": callback_id,
            "trigger_id": self._trigger_id(),
        }
        return self._interactive(at, payload)

    def message_action(
        self, at: float, target: ScenarioItem, callback_id: str, *, user: str | User | None = None
    ) -> ScenarioItem:
        """A message shortcut (``type: "message_action"``) on the message ``target``."""
        ws = self.workspace
        p, u = message_event(target), ws.user(user)
        ch = ws.channel(p["channel"])
        message = {k: p[k] for k in ("client_msg_id", "type", "text", "user", "ts", "team", "blocks") if k in p}
        payload = {
            "type": "message_action",
            "token": ws.verification_token,
            "action_ts": self._ts(at),
            "team": self._team(),
            "user": {"id": u.id, "name": u.name},
            "channel": {"id": ch.id, "name": ch.name or "directmessage"},
            **self._org(),
            "callback_id": callback_id,
            "trigger_id": self._trigger_id(),
            "message_ts": p["ts"],
            "message": message,
            "response_url": self._response_url("app"),
        }
        return self._interactive(at, payload)

    def view_submission(
        self, at: float, callback_id: str, details: str = "", *, user: str | User | None = None
    ) -> ScenarioItem:
        """``view_submission``: a member submitted a modal (``details`` is what they typed)."""
        ws = self.workspace
        values = {"details": {"details_input": {"type": "plain_text_input", "value": details}}}
        payload = {
            "type": "view_submission",
            "team": self._team(),
            "user": self._user(ws.user(user)),
            "api_app_id": ws.app_id,
            "token": ws.verification_token,
            "trigger_id": self._trigger_id(),
            "view": self._view(callback_id, values),
            "response_urls": [],
            **self._org(),
        }
        return self._interactive(at, payload)

    def view_closed(self, at: float, callback_id: str, *, user: str | User | None = None) -> ScenarioItem:
        """``view_closed``: a member cancelled a modal opened with ``notify_on_close``."""
        ws = self.workspace
        view = self._view(callback_id)
        view["notify_on_close"] = True
        payload = {
            "type": "view_closed",
            "team": self._team(),
            "user": self._user(ws.user(user)),
            "api_app_id": ws.app_id,
            "token": ws.verification_token,
            "view": view,
            "is_cleared": False,
            **self._org(),
        }
        return self._interactive(at, payload)
