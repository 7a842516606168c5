"""What every simulated payload shares: seeded ids, the ``event_callback`` wrapper, team/user/view objects (pure).

:class:`BuilderBase` is the base of :class:`slacklab.sim.payloads.ScenarioBuilder`
(use that; the event families live in :mod:`~slacklab.sim.payloads`,
:mod:`~slacklab.sim.payloads_app` and :mod:`~slacklab.sim.payloads_interactive`).
:func:`view_object` is also what the simulated Web API returns from ``views.open``.
Shapes follow Slack's reference pages; the conformance test compares their key
paths with payloads Slack's own SDKs use in their tests.
"""

from __future__ import annotations

import base64
import json
import random
from collections.abc import Callable, Mapping
from typing import Any

from slacklab.sim.workspace import DEFAULT_WORKSPACE, Channel, ScenarioItem, User, Workspace

__all__ = [
    "BuilderBase",
    "bot_user_object",
    "channel_object",
    "message_event",
    "rich_text",
    "user_object",
    "view_object",
]

_ALPHABET = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"


def rich_text(text: str, block_id: str) -> list[dict[str, Any]]:
    """The ``blocks`` Slack adds to a message typed in the client: one ``rich_text`` section."""
    return [
        {
            "type": "rich_text",
            "block_id": block_id,
            "elements": [{"type": "rich_text_section", "elements": [{"type": "text", "text": text}]}],
        }
    ]


def view_object(
    ws: Workspace,
    view_id: str,
    callback_id: str,
    *,
    title: str = "Simulated",
    blocks: list[dict[str, Any]] | None = None,
    values: Mapping[str, Any] | None = None,
    private_metadata: str = "",
    view_type: str = "modal",
    view_hash: str = "",
) -> dict[str, Any]:
    """A view as Slack reports it (in ``view_submission``/``block_suggestion`` payloads and ``views.*`` answers)."""
    return {
        "id": view_id,
        "team_id": ws.team_id,
        "type": view_type,
        "blocks": list(blocks or []),
        "private_metadata": private_metadata,
        "callback_id": callback_id,
        "state": {"values": dict(values or {})},
        "hash": view_hash or f"{int(ws.start_epoch)}.{view_id[-8:]}",
        "title": {"type": "plain_text", "text": title},
        "clear_on_close": False,
        "notify_on_close": False,
        "close": {"type": "plain_text", "text": "Cancel"} if view_type == "modal" else None,
        "submit": {"type": "plain_text", "text": "Submit"} if view_type == "modal" else None,
        "previous_view_id": None,
        "root_view_id": view_id,
        "app_id": ws.app_id,
        "external_id": "",
        "app_installed_team_id": ws.team_id,
        "bot_id": ws.bot_id,
    }


def channel_object(ws: Workspace, ch: Channel) -> dict[str, Any]:
    """A conversation as ``conversations.info``/``list`` describe it."""
    if ch.channel_type == "im":
        return {
            "id": ch.id,
            "created": int(ws.start_epoch),
            "is_im": True,
            "is_org_shared": False,
            "user": ws.users[0].id,
        }
    return {
        "id": ch.id,
        "name": ch.name,
        "is_channel": True,
        "is_group": False,
        "is_im": False,
        "is_private": False,
        "is_archived": False,
        "is_general": ch.name == "general",
        "is_member": True,
        "is_shared": ch.shared,
        "is_ext_shared": ch.shared,
        "is_org_shared": False,
        "context_team_id": ws.team_id,
        "created": int(ws.start_epoch),
        "creator": ws.users[0].id,
        "name_normalized": ch.name,
        "topic": {"value": "", "creator": "", "last_set": 0},
        "purpose": {"value": f"#{ch.name} (simulated)", "creator": "", "last_set": 0},
        "num_members": len(ws.users) + 1,
    }


def user_object(ws: Workspace, u: User) -> dict[str, Any]:
    """A member as ``users.info``/``list`` describe it."""
    profile = {"real_name": u.real_name, "display_name": u.name, "team": u.team_id or ws.team_id}
    return {
        "id": u.id,
        "team_id": u.team_id or ws.team_id,
        "name": u.name,
        "deleted": False,
        "real_name": u.real_name,
        "tz": "Europe/Berlin",
        "is_admin": False,
        "is_bot": False,
        "is_app_user": False,
        "profile": profile,
    }


def bot_user_object(ws: Workspace) -> dict[str, Any]:
    """The app's bot user as ``users.info`` describes it."""
    profile = {"real_name": ws.bot_name, "display_name": "", "bot_id": ws.bot_id, "api_app_id": ws.app_id}
    return {
        "id": ws.bot_user_id,
        "team_id": ws.team_id,
        "name": ws.bot_name,
        "deleted": False,
        "is_bot": True,
        "is_app_user": False,
        "profile": profile,
    }


def message_event(item: ScenarioItem) -> Mapping[str, Any]:
    """The inner ``event`` of a message item (one with a ``channel`` and a ``ts``), else ``ValueError``."""
    event = item.payload.get("event") if item.kind == "events_api" else None
    if not isinstance(event, Mapping) or "ts" not in event or "channel" not in event:
        raise ValueError(f"{item.label!r} item is not a message with a channel and ts")
    return event


class BuilderBase:
    """Seeded ids, the item list and the wrappers every payload family uses."""

    def __init__(self, *, seed: int = 0, workspace: Workspace = DEFAULT_WORKSPACE) -> None:
        self.workspace = workspace
        self._rng = random.Random(seed)
        self._seed = seed
        self._items: list[ScenarioItem] = []
        self._used_ts: set[int] = set()
        self._used_ids: set[str] = set()
        self._counter = 0

    @property
    def items(self) -> tuple[ScenarioItem, ...]:
        """The items made so far, in the order they were made."""
        return tuple(self._items)

    # ---- ids

    def _ts(self, at: float) -> str:
        micros = round((self.workspace.start_epoch + at) * 1_000_000)
        while micros in self._used_ts:
            micros += 1
        self._used_ts.add(micros)
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def _unique(self, make: Callable[[], str]) -> str:
        while True:
            value = make()
            if value not in self._used_ids:
                self._used_ids.add(value)
                return value

    def _slack_id(self, prefix: str, k: int = 9) -> str:
        return self._unique(lambda: prefix + "".join(self._rng.choices(_ALPHABET, k=k)))

    def _event_id(self) -> str:
        return self._slack_id("Ev0")

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

    # ---- shared objects

    def _team(self) -> dict[str, Any]:
        """``team`` of an interactive payload (with the org in Grid)."""
        ws = self.workspace
        team: dict[str, Any] = {"id": ws.team_id, "domain": ws.team_domain}
        if ws.enterprise_id:
            team.update(enterprise_id=ws.enterprise_id, enterprise_name=ws.enterprise_name)
        return team

    def _user(self, user: User) -> dict[str, Any]:
        """``user`` of an interactive payload."""
        return {
            "id": user.id,
            "username": user.name,
            "name": user.name,
            "team_id": user.team_id or self.workspace.team_id,
        }

    def _org(self) -> dict[str, Any]:
        """``enterprise`` and ``is_enterprise_install`` of an interactive payload."""
        ws = self.workspace
        enterprise = {"id": ws.enterprise_id, "name": ws.enterprise_name} if ws.enterprise_id else None
        return {"enterprise": enterprise, "is_enterprise_install": ws.is_enterprise_install}

    def _blocks(self, text: str) -> list[dict[str, Any]]:
        return rich_text(text, self._uuid()[:5])

    # ---- wrappers

    def _add(self, item: ScenarioItem) -> ScenarioItem:
        self._items.append(item)
        return item

    def event(self, at: float, event: Mapping[str, Any], *, shared: bool | None = None) -> ScenarioItem:
        """Wrap any inner ``event`` dict in an ``event_callback`` payload and add it.

        ``shared`` (default: the channel's :attr:`Channel.shared`) sets ``is_ext_shared_channel``.
        """
        return self._add(self.wrap_event(at, event, shared=shared))

    def wrap_event(self, at: float, event: Mapping[str, Any], *, shared: bool | None = None) -> ScenarioItem:
        """The item :meth:`event` would add, without adding it (the simulated Web API's own events)."""
        ws = self.workspace
        event = dict(event)
        channel = event.get("channel") or (event.get("item") or {}).get("channel") or event.get("channel_id") or ""
        if shared is None:
            shared = any(c.shared and c.id == channel for c in ws.channels)
        context = json.dumps(
            {"et": event.get("type"), "tid": ws.team_id, "aid": ws.app_id, "cid": channel}, separators=(",", ":")
        )
        payload: dict[str, Any] = {"token": ws.verification_token, "team_id": ws.team_id}
        if ws.enterprise_id:
            payload["enterprise_id"] = ws.enterprise_id
        payload.update(
            context_team_id=ws.team_id,
            context_enterprise_id=ws.enterprise_id,
            api_app_id=ws.app_id,
            event=event,
            type="event_callback",
            event_id=self._event_id(),
            event_time=int(ws.start_epoch + at),
            authorizations=[
                {
                    "enterprise_id": ws.enterprise_id,
                    "team_id": None if ws.is_enterprise_install else ws.team_id,
                    "user_id": ws.bot_user_id,
                    "is_bot": True,
                    "is_enterprise_install": ws.is_enterprise_install,
                }
            ],
            is_ext_shared_channel=bool(shared),
            event_context="4-" + base64.urlsafe_b64encode(context.encode()).decode().rstrip("="),
        )
        return ScenarioItem(float(at), "events_api", payload)

    def _user_message(
        self, at: float, text: str, channel: Channel, user: User, ts: str | None = None
    ) -> dict[str, Any]:
        ts = ts or self._ts(at)
        event: dict[str, Any] = {
            "type": "message",
            "user": user.id,
            "text": text,
            "ts": ts,
            "client_msg_id": self._uuid(),
            "team": user.team_id or self.workspace.team_id,
            "blocks": self._blocks(text),
            "channel": channel.id,
            "event_ts": ts,
            "channel_type": channel.channel_type,
        }
        if channel.shared:  # Slack Connect: whose workspace the author and the channel belong to
            event.update(user_team=user.team_id or self.workspace.team_id, source_team=self.workspace.team_id)
        return event
