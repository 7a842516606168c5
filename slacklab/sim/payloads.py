"""Slack's payload shapes, one scenario item at a time: :class:`ScenarioBuilder` (pure, seeded).

Each builder method makes the payload Slack would put in a Socket Mode envelope
and appends it as a :class:`~slacklab.sim.workspace.ScenarioItem`; :meth:`ScenarioBuilder.build`
returns the :class:`~slacklab.sim.workspace.Scenario`. Hand-made scenarios for tests
and notebooks use it directly; :func:`slacklab.sim.scenario.build_scenario` drives it
for generated traffic. Import it from :mod:`slacklab.sim.scenario`::

    b = ScenarioBuilder(seed=1)
    first = b.message(0.0, "deploy went fine")
    b.reaction(0.5, first, "tada")
    b.slash(1.0, "/deploy", "api staging")
    tiny = b.build()          # then Simulator(tiny)

Payload shapes (see Slack's docs and ``docs/slack-protocol.md`` (payloads)):

* ``events_api`` — the full ``event_callback`` outer object: ``token`` (a fake
  verification token), ``team_id``, ``context_team_id``, ``api_app_id``,
  ``event`` (``type``, ``user``, ``channel``, ``text``, ``ts``, ``event_ts``,
  ``channel_type``…; subtypes ``message_changed``, ``message_deleted``,
  ``bot_message``, ``channel_join``, ``thread_broadcast``; thread replies carry
  ``thread_ts``), ``type: "event_callback"``, ``event_id`` (``Ev…``, unique),
  ``event_time`` (epoch seconds = :attr:`Workspace.start_epoch` + ``at``),
  ``authorizations``, ``is_ext_shared_channel`` and ``event_context``.
* ``slash_commands`` — ``token``, ``team_id``, ``team_domain``, ``channel_id``,
  ``channel_name``, ``user_id``, ``user_name``, ``command``, ``text``,
  ``api_app_id``, ``is_enterprise_install``, ``response_url``, ``trigger_id``.
* ``interactive`` — ``block_actions``: ``type``, ``user``, ``api_app_id``,
  ``token``, ``container``, ``trigger_id``, ``team``, ``channel``, ``message``,
  ``state``, ``response_url``, ``actions`` (``actions[0].action_id``…).
"""

from __future__ import annotations

import base64
import json
import random
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from slacklab.sim.workspace import DEFAULT_WORKSPACE, Channel, Scenario, ScenarioItem, User, Workspace

__all__ = ["ScenarioBuilder", "message_event"]


class ScenarioBuilder:
    """Make scenario items one at a time (hand-made scenarios for tests and notebooks).

    Every method appends one item (or two, see :meth:`app_mention`) and returns
    it; :meth:`build` returns the :class:`Scenario`. Ids (``event_id``,
    ``client_msg_id``, ``trigger_id``) come from ``random.Random(seed)``, and
    ``ts`` values from the workspace's fixed start epoch, so the same calls give
    the same items.
    """

    def __init__(self, *, seed: int = 0, workspace: Workspace = DEFAULT_WORKSPACE) -> None:
        self.workspace = workspace
        self._rng = random.Random(seed)
        self._seed = seed
        self._items: list[ScenarioItem] = []
        self._used_ts: set[int] = set()
        self._used_ids: set[str] = set()
        self._counter = 0

    # ---- ids

    def _ts(self, at: float) -> str:
        micros = round((self.workspace.start_epoch + at) * 1_000_000)
        while micros in self._used_ts:
            micros += 1
        self._used_ts.add(micros)
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def _unique(self, make: Any) -> str:
        while True:
            value = make()
            if value not in self._used_ids:
                self._used_ids.add(value)
                return value

    def _event_id(self) -> str:
        alphabet = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"
        return self._unique(lambda: "Ev0" + "".join(self._rng.choices(alphabet, k=9)))

    def _uuid(self) -> str:
        h = f"{self._rng.getrandbits(128):032x}"
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"

    def _trigger_id(self) -> str:
        return self._unique(
            lambda: (
                f"{self._rng.randrange(10**10, 10**11)}.{self._rng.randrange(10**11, 10**12)}."
                f"{self._rng.getrandbits(128):032x}"
            )
        )

    def _response_url(self, path: str) -> str:
        self._counter += 1
        return f"https://hooks.slack.com/{path}/{self.workspace.team_id}/{1000000 + self._counter}/SIMULATED"

    # ---- wrappers

    def _add(self, item: ScenarioItem) -> ScenarioItem:
        self._items.append(item)
        return item

    def event(self, at: float, event: Mapping[str, Any]) -> ScenarioItem:
        """Wrap any inner ``event`` dict in an ``event_callback`` payload and add it."""
        ws = self.workspace
        event = dict(event)
        channel = event.get("channel") or (event.get("item") or {}).get("channel") or ""
        context = json.dumps(
            {"et": event.get("type"), "tid": ws.team_id, "aid": ws.app_id, "cid": channel},
            separators=(",", ":"),
        )
        payload = {
            "token": ws.verification_token,
            "team_id": ws.team_id,
            "context_team_id": ws.team_id,
            "context_enterprise_id": None,
            "api_app_id": ws.app_id,
            "event": event,
            "type": "event_callback",
            "event_id": self._event_id(),
            "event_time": int(ws.start_epoch + at),
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": ws.team_id,
                    "user_id": ws.bot_user_id,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
            "event_context": "4-" + base64.urlsafe_b64encode(context.encode()).decode().rstrip("="),
        }
        return self._add(ScenarioItem(float(at), "events_api", payload))

    def _user_message(
        self, at: float, text: str, channel: Channel, user: User, ts: str | None = None
    ) -> dict[str, Any]:
        ts = ts or self._ts(at)
        return {
            "type": "message",
            "user": user.id,
            "text": text,
            "ts": ts,
            "client_msg_id": self._uuid(),
            "team": self.workspace.team_id,
            "blocks": [
                {
                    "type": "rich_text",
                    "block_id": self._uuid()[:5],
                    "elements": [{"type": "rich_text_section", "elements": [{"type": "text", "text": text}]}],
                }
            ],
            "channel": channel.id,
            "event_ts": ts,
            "channel_type": channel.channel_type,
        }

    # ---- events

    def message(
        self,
        at: float,
        text: str,
        *,
        channel: str | Channel | None = None,
        user: str | User | None = None,
        thread_ts: str | None = None,
        parent_user: str | User | None = None,
    ) -> ScenarioItem:
        """A plain user message; with ``thread_ts`` a thread reply."""
        ch, u = self.workspace.channel(channel), self.workspace.user(user)
        event = self._user_message(at, text, ch, u)
        if thread_ts:
            event["thread_ts"] = thread_ts
            event["parent_user_id"] = self.workspace.user(parent_user).id if parent_user else u.id
        return self.event(at, event)

    def reply(
        self, at: float, parent: ScenarioItem, text: str, *, user: str | User | None = None, broadcast: bool = False
    ) -> ScenarioItem:
        """A thread reply to ``parent`` (a message item); ``broadcast`` makes it a ``thread_broadcast``."""
        p = message_event(parent)
        ch = self.workspace.channel(p["channel"])
        if not broadcast:
            return self.message(at, text, channel=ch, user=user, thread_ts=p["ts"], parent_user=p.get("user"))
        u = self.workspace.user(user)
        event = self._user_message(at, text, ch, u)
        event.update(
            subtype="thread_broadcast",
            thread_ts=p["ts"],
            root={
                "type": "message",
                "user": p.get("user"),
                "text": p.get("text"),
                "ts": p["ts"],
                "thread_ts": p["ts"],
                "reply_count": 1,
            },
        )
        return self.event(at, event)

    def bot_message(
        self,
        at: float,
        text: str,
        *,
        channel: str | Channel | None = "deploys",
        username: str = "ci-bot",
        bot_id: str = "B0SIMCIBOT",
    ) -> ScenarioItem:
        """A classic ``bot_message`` subtype (an integration such as CI)."""
        ch = self.workspace.channel(channel)
        ts = self._ts(at)
        return self.event(
            at,
            {
                "type": "message",
                "subtype": "bot_message",
                "text": text,
                "ts": ts,
                "bot_id": bot_id,
                "username": username,
                "icons": {},
                "channel": ch.id,
                "event_ts": ts,
                "channel_type": ch.channel_type,
            },
        )

    def edit(self, at: float, original: ScenarioItem, new_text: str) -> ScenarioItem:
        """``message_changed`` for ``original`` (hidden; ``message`` holds the new version)."""
        p = message_event(original)
        ts = self._ts(at)
        return self.event(
            at,
            {
                "type": "message",
                "subtype": "message_changed",
                "hidden": True,
                "message": {
                    "type": "message",
                    "user": p.get("user"),
                    "text": new_text,
                    "ts": p["ts"],
                    "edited": {"user": p.get("user"), "ts": ts},
                    "client_msg_id": p.get("client_msg_id"),
                },
                "channel": p["channel"],
                "previous_message": {"type": "message", "user": p.get("user"), "text": p.get("text"), "ts": p["ts"]},
                "event_ts": ts,
                "ts": ts,
                "channel_type": p.get("channel_type", "channel"),
            },
        )

    def delete(self, at: float, original: ScenarioItem) -> ScenarioItem:
        """``message_deleted`` for ``original`` (hidden; ``deleted_ts`` is the original ``ts``)."""
        p = message_event(original)
        ts = self._ts(at)
        return self.event(
            at,
            {
                "type": "message",
                "subtype": "message_deleted",
                "hidden": True,
                "deleted_ts": p["ts"],
                "channel": p["channel"],
                "previous_message": {"type": "message", "user": p.get("user"), "text": p.get("text"), "ts": p["ts"]},
                "event_ts": ts,
                "ts": ts,
                "channel_type": p.get("channel_type", "channel"),
            },
        )

    def reaction(
        self, at: float, target: ScenarioItem, reaction: str, *, user: str | User | None = None, removed: bool = False
    ) -> ScenarioItem:
        """``reaction_added`` (or ``reaction_removed``) on the message ``target``."""
        p = message_event(target)
        event: dict[str, Any] = {
            "type": "reaction_removed" if removed else "reaction_added",
            "user": self.workspace.user(user).id,
            "reaction": reaction,
            "item": {"type": "message", "channel": p["channel"], "ts": p["ts"]},
            "event_ts": self._ts(at),
        }
        if p.get("user"):
            event["item_user"] = p["user"]
        return self.event(at, event)

    def app_mention(
        self,
        at: float,
        text: str,
        *,
        channel: str | Channel | None = None,
        user: str | User | None = None,
        with_message: bool = True,
    ) -> ScenarioItem:
        """``@bot text``: an ``app_mention`` and (``with_message``) the ``message`` event
        Slack also sends for the same post, with its own ``event_id``. Returns the mention."""
        ch, u = self.workspace.channel(channel), self.workspace.user(user)
        full = f"<@{self.workspace.bot_user_id}> {text}"
        message = self._user_message(at, full, ch, u)
        mention = {k: v for k, v in message.items() if k != "channel_type"}
        mention["type"] = "app_mention"
        if with_message:
            self.event(at, message)
        return self.event(at, mention)

    def join(
        self,
        at: float,
        *,
        user: str | User | None = None,
        channel: str | Channel | None = None,
        inviter: str | User | None = None,
        with_message: bool = True,
    ) -> ScenarioItem:
        """``member_joined_channel`` and (``with_message``) the ``channel_join`` message subtype."""
        ch, u = self.workspace.channel(channel), self.workspace.user(user)
        ts = self._ts(at)
        event: dict[str, Any] = {
            "type": "member_joined_channel",
            "user": u.id,
            "channel": ch.id,
            "channel_type": "C",
            "team": self.workspace.team_id,
            "event_ts": ts,
        }
        if inviter:
            event["inviter"] = self.workspace.user(inviter).id
        item = self.event(at, event)
        if with_message:
            self.event(
                at,
                {
                    "type": "message",
                    "subtype": "channel_join",
                    "user": u.id,
                    "text": f"<@{u.id}> has joined the channel",
                    "ts": ts,
                    "channel": ch.id,
                    "event_ts": ts,
                    "channel_type": ch.channel_type,
                },
            )
        return item

    # ---- slash commands and interactivity

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
            "is_enterprise_install": "false",
            "response_url": self._response_url("commands"),
            "trigger_id": self._trigger_id(),
        }
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
        payload = {
            "type": "block_actions",
            "user": {"id": u.id, "username": u.name, "name": u.name, "team_id": ws.team_id},
            "api_app_id": ws.app_id,
            "token": ws.verification_token,
            "container": {"type": "message", "message_ts": message_ts, "channel_id": ch.id, "is_ephemeral": False},
            "trigger_id": self._trigger_id(),
            "team": {"id": ws.team_id, "domain": ws.team_domain},
            "enterprise": None,
            "is_enterprise_install": False,
            "channel": {"id": ch.id, "name": ch.name},
            "message": {
                "type": "message",
                "user": ws.bot_user_id,
                "bot_id": ws.bot_id,
                "text": message_text,
                "ts": message_ts,
                "team": ws.team_id,
                "blocks": [
                    {
                        "type": "actions",
                        "block_id": block_id,
                        "elements": [
                            {
                                "type": "button",
                                "action_id": action_id,
                                "value": value,
                                "text": {"type": "plain_text", "text": label, "emoji": True},
                            }
                        ],
                    }
                ],
            },
            "state": {"values": {}},
            "response_url": self._response_url("actions"),
            "actions": [
                {
                    "action_id": action_id,
                    "block_id": block_id,
                    "text": {"type": "plain_text", "text": label, "emoji": True},
                    "value": value,
                    "type": "button",
                    "action_ts": self._ts(at),
                }
            ],
        }
        return self._add(ScenarioItem(float(at), "interactive", payload))

    def build(self) -> Scenario:
        """The scenario made so far (sorted by time)."""
        scenario = Scenario.from_items(self._items, workspace=self.workspace)
        return replace(scenario, seed=self._seed)


def message_event(item: ScenarioItem) -> Mapping[str, Any]:
    """The inner ``event`` of a message item (one with a ``channel`` and a ``ts``), else ``ValueError``."""
    event = item.payload.get("event") if item.kind == "events_api" else None
    if not isinstance(event, Mapping) or "ts" not in event or "channel" not in event:
        raise ValueError(f"{item.label!r} item is not a message with a channel and ts")
    return event
