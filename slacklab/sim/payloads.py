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

Payload shapes follow Slack's reference pages (the conformance test compares their
key paths with payloads from Slack's own SDK test suites):

* ``events_api`` — the full ``event_callback`` outer object (``token``: a fake
  verification token, ``team_id``, ``context_team_id``, ``context_enterprise_id``,
  ``api_app_id``, ``event``, ``event_id``, ``event_time`` = :attr:`Workspace.start_epoch`
  + ``at``, ``authorizations``, ``is_ext_shared_channel``, ``event_context``; plus
  ``enterprise_id`` in Enterprise Grid). Messages here: plain, thread replies,
  ``thread_broadcast`` (with ``root.reply_users``…), ``message_changed`` /
  ``message_deleted`` (with ``message`` / ``previous_message``), ``bot_message``
  (``bot_id``, ``app_id``, ``icons``), ``file_share`` (+ ``file_shared``),
  ``channel_join`` (+ ``member_joined_channel``), ``app_mention``, reactions.
  Other events: :mod:`~slacklab.sim.payloads_app`.
* ``slash_commands`` and ``interactive``: :mod:`~slacklab.sim.payloads_interactive`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from slacklab.sim.payload_base import BuilderBase, message_event, rich_text, view_object
from slacklab.sim.payloads_app import AppEventPayloads, file_object
from slacklab.sim.payloads_interactive import InteractivePayloads
from slacklab.sim.workspace import DEFAULT_WORKSPACE, Channel, Scenario, ScenarioItem, User, Workspace

__all__ = ["ScenarioBuilder", "file_object", "message_event", "rich_text", "view_object"]


class ScenarioBuilder(InteractivePayloads, AppEventPayloads, BuilderBase):
    """Make scenario items one at a time (hand-made scenarios for tests and notebooks).

    Every method appends one item (or two, see :meth:`app_mention`) and returns
    it; :meth:`build` returns the :class:`Scenario`. Ids (``event_id``,
    ``client_msg_id``, ``trigger_id``) come from ``random.Random(seed)``, and
    ``ts`` values from the workspace's fixed start epoch, so the same calls give
    the same items. Messages are here; other events in
    :class:`~slacklab.sim.payloads_app.AppEventPayloads`; slash commands and
    interactivity in :class:`~slacklab.sim.payloads_interactive.InteractivePayloads`.
    """

    def __init__(self, *, seed: int = 0, workspace: Workspace = DEFAULT_WORKSPACE) -> None:
        super().__init__(seed=seed, workspace=workspace)
        self._threads: dict[str, list[tuple[str, str]]] = {}  # parent ts -> [(reply ts, user)]

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
        u = self.workspace.user(user)
        replies = self._threads.setdefault(p["ts"], [])
        if not broadcast:
            item = self.message(at, text, channel=ch, user=u, thread_ts=p["ts"], parent_user=p.get("user"))
            replies.append((message_event(item)["ts"], u.id))
            return item
        event = self._user_message(at, text, ch, u)
        replies.append((event["ts"], u.id))
        users = list(dict.fromkeys(who for _, who in replies))
        event.update(
            subtype="thread_broadcast",
            thread_ts=p["ts"],
            root={
                "client_msg_id": p.get("client_msg_id"),
                "type": "message",
                "text": p.get("text"),
                "user": p.get("user"),
                "ts": p["ts"],
                "team": p.get("team", self.workspace.team_id),
                "thread_ts": p["ts"],
                "reply_count": len(replies),
                "reply_users_count": len(users),
                "latest_reply": event["ts"],
                "reply_users": users,
                "is_locked": False,
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
        app_id: str = "A0SIMCIAPP",
    ) -> ScenarioItem:
        """A classic ``bot_message`` subtype (an integration such as CI)."""
        ch = self.workspace.channel(channel)
        ts = self._ts(at)
        return self.event(
            at,
            {
                "subtype": "bot_message",
                "text": text,
                "username": username,
                "icons": {"emoji": "robot_face"},
                "type": "message",
                "ts": ts,
                "bot_id": bot_id,
                "app_id": app_id,
                "blocks": self._blocks(text),
                "channel": ch.id,
                "event_ts": ts,
                "channel_type": ch.channel_type,
            },
        )

    def _version(self, p: Mapping[str, Any], text: str | None = None) -> dict[str, Any]:
        """A copy of message ``p`` as Slack nests it (``message`` / ``previous_message``), optionally re-worded."""
        text = p.get("text") if text is None else text
        out = {k: p[k] for k in ("client_msg_id", "type", "user", "bot_id", "app_id", "thread_ts") if k in p}
        out.update(text=text, team=p.get("team", self.workspace.team_id), ts=p["ts"])
        out["blocks"] = self._blocks(str(text)) if text != p.get("text") else p.get("blocks") or self._blocks(str(text))
        return out

    def edit(self, at: float, original: ScenarioItem, new_text: str) -> ScenarioItem:
        """``message_changed`` for ``original`` (hidden; ``message`` holds the new version)."""
        p = message_event(original)
        ts = self._ts(at)
        message = self._version(p, new_text)
        message["edited"] = {"user": p.get("user"), "ts": ts}
        return self.event(
            at,
            {
                "type": "message",
                "subtype": "message_changed",
                "message": message,
                "previous_message": self._version(p),
                "channel": p["channel"],
                "hidden": True,
                "ts": ts,
                "event_ts": ts,
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
                "previous_message": self._version(p),
                "channel": p["channel"],
                "hidden": True,
                "deleted_ts": p["ts"],
                "event_ts": ts,
                "ts": ts,
                "channel_type": p.get("channel_type", "channel"),
            },
        )

    def file_share(
        self,
        at: float,
        name: str = "chart.png",
        text: str = "",
        *,
        channel: str | Channel | None = None,
        user: str | User | None = None,
        with_file_shared: bool = True,
    ) -> ScenarioItem:
        """A ``file_share`` message (a file uploaded with an optional comment) and
        (``with_file_shared``) the ``file_shared`` event Slack also sends. Returns the message."""
        ch, u = self.workspace.channel(channel), self.workspace.user(user)
        event = self._user_message(at, text, ch, u)
        file = file_object(self.workspace, self._slack_id("F0"), name, u, int(self.workspace.start_epoch + at))
        event.update(subtype="file_share", files=[file], upload=False, display_as_bot=False)
        item = self.event(at, event)
        if with_file_shared:
            self.event(
                at,
                {
                    "type": "file_shared",
                    "channel_id": ch.id,
                    "file_id": file["id"],
                    "user_id": u.id,
                    "file": {"id": file["id"]},
                    "event_ts": self._ts(at),
                },
            )
        return item

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
                    **({"inviter": event["inviter"]} if inviter else {}),
                    "ts": ts,
                    "channel": ch.id,
                    "event_ts": ts,
                    "channel_type": ch.channel_type,
                },
            )
        return item

    def build(self) -> Scenario:
        """The scenario made so far (sorted by time)."""
        scenario = Scenario.from_items(self._items, workspace=self.workspace)
        return replace(scenario, seed=self._seed)
