"""The Web API methods a stock Bolt app calls, answered from the simulated workspace (pure: no I/O, no clock).

:class:`SlackState` holds what the app can see and change: the workspace's
channels and users, every message (the scenario's, as the simulator releases
them, and the app's own), reactions and views. :meth:`SlackState.call` answers one
method call with Slack's shapes and error codes and returns the events Slack would
send because of it (a posted message becomes a ``message`` event with the bot's
``bot_id``); the simulator's HTTP shell (:mod:`slacklab.sim.webapi`) routes
requests here and plays those events to the app, so they are part of the ground
truth. Methods: ``auth.test``, ``chat.postMessage``, ``chat.update``,
``chat.postEphemeral``, ``reactions.add``, ``conversations.list/info/history/replies``,
``users.list/info``, ``views.open/publish/update``, and POSTs to a ``response_url``.
:meth:`SlackState.answer` plays what Slack does with a response payload in a Socket
Mode ack (:mod:`slacklab.sim.answers`) and keeps it in :attr:`SlackState.answers`.

Errors as Slack gives them: ``not_authed`` (no token), ``invalid_auth`` (another
token), ``channel_not_found``, ``user_not_found``, ``message_not_found``,
``no_text``, ``invalid_arguments``, ``already_reacted``, ``not_found`` (views),
``unknown_method``; :meth:`SlackState.fail_next` queues ``ratelimited`` (HTTP 429
with ``Retry-After``) or any other error for a method.
"""

from __future__ import annotations

import json
import math
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from slacklab.sim.answers import judge
from slacklab.sim.payload_base import bot_user_object, channel_object, rich_text, user_object, view_object
from slacklab.sim.payloads import ScenarioBuilder
from slacklab.sim.workspace import Channel, ScenarioItem, Workspace

__all__ = ["BOT_TOKEN", "ApiAnswer", "ApiCall", "SlackState", "local_response_url"]

#: The simulator's bot token: obviously fake, the same for every simulator.
BOT_TOKEN = "xoxb-0000-SIMULATED-BOT-TOKEN"
_HOOKS = "https://hooks.slack.com/"


def local_response_url(item: ScenarioItem, hooks: str) -> ScenarioItem:
    """``item`` with its ``response_url`` moved from ``https://hooks.slack.com/`` to ``hooks`` (the simulator's)."""
    url = item.payload.get("response_url")
    if not isinstance(url, str) or not url.startswith(_HOOKS):
        return item
    return replace(item, payload={**item.payload, "response_url": hooks + url[len(_HOOKS) :]})


@dataclass(frozen=True, slots=True)
class ApiAnswer:
    """One answer: HTTP ``status``, JSON ``body``, extra ``headers`` and the ``events`` it causes."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    events: tuple[ScenarioItem, ...] = ()


@dataclass(frozen=True, slots=True)
class ApiCall:
    """A call the app made (the ``token`` is never kept): for tests and the ground truth."""

    at: float
    method: str
    params: Mapping[str, Any]
    ok: bool
    error: str | None


def _error(error: str, status: int = 200, **extra: Any) -> ApiAnswer:
    return ApiAnswer(status, {"ok": False, "error": error, **extra})


class SlackState:
    """The simulated workspace as the Web API sees it. ``call`` from one thread at a time (the simulator's loop)."""

    def __init__(self, workspace: Workspace, *, bot_token: str = BOT_TOKEN, seed: int = 7) -> None:
        self.workspace = workspace
        self.bot_token = bot_token
        self._builder = ScenarioBuilder(seed=seed, workspace=workspace)
        self.messages: dict[str, list[dict[str, Any]]] = {}  # channel id -> messages, oldest first
        self.views: dict[str, dict[str, Any]] = {}
        self.calls: list[ApiCall] = []
        self.responses: list[dict[str, Any]] = []  # what was POSTed to response_urls
        self.answers: list[dict[str, Any]] = []  # response payloads in acks, with what Slack did
        self.caused: list[ScenarioItem] = []  # the events the app's calls made Slack send
        self._failures: dict[str, deque[tuple[str, float | None]]] = {}
        self._last_ts = 0
        self._methods: dict[str, Callable[[dict[str, Any], float], ApiAnswer]] = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._post_message,
            "chat.update": self._update,
            "chat.postEphemeral": self._post_ephemeral,
            "reactions.add": self._reactions_add,
            "conversations.list": self._conversations_list,
            "conversations.info": self._conversations_info,
            "conversations.history": self._history,
            "conversations.replies": self._replies,
            "users.list": self._users_list,
            "users.info": self._users_info,
            "views.open": self._views_open,
            "views.publish": self._views_publish,
            "views.update": self._views_update,
        }

    @property
    def methods(self) -> tuple[str, ...]:
        """The method names answered here."""
        return tuple(self._methods)

    # ------------------------------------------------------------ entry points

    def fail_next(
        self, method: str, error: str = "ratelimited", retry_after: float | None = None, times: int = 1
    ) -> None:
        """Make the next ``times`` authorised calls of ``method`` fail (``ratelimited``: HTTP 429 + ``Retry-After``)."""
        queue = self._failures.setdefault(method, deque())
        queue.extend([(error, retry_after)] * times)

    def call(self, method: str, token: str | None, params: Mapping[str, Any], now: float) -> ApiAnswer:
        """Answer ``method`` called with ``token`` and ``params`` at epoch second ``now``."""
        handler = self._methods.get(method)
        if handler is None:
            answer = _error("unknown_method")
        elif not token:
            answer = _error("not_authed")
        elif token != self.bot_token:
            answer = _error("not_allowed_token_type" if token.startswith("xapp-") else "invalid_auth")
        elif self._failures.get(method):
            error, retry_after = self._failures[method].popleft()
            if error == "ratelimited":
                wait = 1.0 if retry_after is None else retry_after
                answer = ApiAnswer(429, {"ok": False, "error": error}, {"Retry-After": str(math.ceil(wait))})
            else:
                answer = _error(error)
        else:
            answer = handler(dict(params), now)
        self.calls.append(ApiCall(now, method, dict(params), bool(answer.body.get("ok")), answer.body.get("error")))
        return answer

    def respond(self, path: str, body: Mapping[str, Any], now: float) -> ApiAnswer:
        """A POST to a ``response_url`` (``path`` after ``/hooks/``): in-channel replies become messages."""
        self.responses.append({"at": now, "path": path, **body})
        channel = self._channel_of_hook(body)
        if body.get("response_type") == "in_channel" and channel is not None:
            answer = self._post_message({"channel": channel.id, **body}, now)
            return ApiAnswer(200, {"ok": True}, events=answer.events)
        return ApiAnswer(200, {"ok": True})

    def answer(self, kind: str, request: Mapping[str, Any], response: Mapping[str, Any], now: float) -> ApiAnswer:
        """A response payload in the ack of an envelope (``kind``, ``request``): judged, recorded in
        :attr:`answers`; an ``in_channel`` slash command reply becomes a message (and its event)."""
        verdict = judge(kind, request, response)
        entry = {
            "at": now,
            "type": verdict.type,
            "effect": verdict.effect,
            "error": verdict.error,
            "response": response,
        }
        events: tuple[ScenarioItem, ...] = ()
        if verdict.effect == "in_channel":
            posted = self._post_message({**response, "channel": request.get("channel_id")}, now)
            entry.update(channel=posted.body.get("channel"), ts=posted.body.get("ts"), error=posted.body.get("error"))
            events = posted.events
        elif verdict.effect in ("update", "push"):
            view = request.get("view") if verdict.effect == "update" else None
            old_id = view.get("id") if isinstance(view, Mapping) else None
            entry["view_id"] = self._store_view(dict(response["view"]), old_id)["id"]
        self.answers.append(entry)
        return ApiAnswer(200, {"ok": entry["error"] is None}, events=events)

    def observe(self, item: ScenarioItem) -> None:
        """Remember a message the scenario released, so the history methods show it."""
        event = item.payload.get("event")
        if item.kind != "events_api" or not isinstance(event, Mapping) or event.get("type") != "message":
            return
        sub = event.get("subtype")
        known = event.get("channel") and self._find(str(event["channel"]), event.get("ts"))  # the app's own post
        if (
            sub in (None, "bot_message", "thread_broadcast", "file_share", "channel_join")
            and event.get("channel")
            and not known
        ):
            message = {k: v for k, v in event.items() if k not in ("channel", "event_ts", "channel_type")}
            self.messages.setdefault(str(event["channel"]), []).append(message)

    # ----------------------------------------------------------------- helpers

    def _new_ts(self, now: float) -> str:
        micros = max(round(now * 1_000_000), self._last_ts + 1)
        self._last_ts = micros
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def _event(self, now: float, event: dict[str, Any]) -> ScenarioItem:
        """The event Slack sends about the app's own action, due at once (``event_time`` = ``now``)."""
        item = replace(self._builder.wrap_event(now - self.workspace.start_epoch, event), at=0.0)
        self.caused.append(item)
        return item

    def _channel(self, ref: Any) -> Channel | None:
        try:
            return self.workspace.channel(str(ref)) if ref else None
        except KeyError:
            return None

    def _channel_of_hook(self, body: Mapping[str, Any]) -> Channel | None:
        return self._channel(body.get("channel")) or self.workspace.channels[0]

    def _find(self, channel: str, ts: Any) -> dict[str, Any] | None:
        return next((m for m in self.messages.get(channel, []) if m.get("ts") == ts), None)

    @staticmethod
    def _view_param(value: Any) -> dict[str, Any] | None:
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                return None
        return value if isinstance(value, dict) and value.get("type") in ("modal", "home") else None

    # ----------------------------------------------------------------- methods

    def _auth_test(self, params: dict[str, Any], now: float) -> ApiAnswer:
        ws = self.workspace
        body = {
            "ok": True,
            "url": f"https://{ws.team_domain}.slack.com/",
            "team": ws.team_name,
            "user": ws.bot_name,
            "team_id": ws.team_id,
            "user_id": ws.bot_user_id,
            "bot_id": ws.bot_id,
            "app_id": ws.app_id,
            "is_enterprise_install": ws.is_enterprise_install,
        }
        if ws.enterprise_id:
            body["enterprise_id"] = ws.enterprise_id
        return ApiAnswer(200, body)

    def _post_message(self, params: dict[str, Any], now: float) -> ApiAnswer:
        ch = self._channel(params.get("channel"))
        if ch is None:
            return _error("channel_not_found")
        text, blocks = params.get("text"), params.get("blocks")
        if isinstance(blocks, str):
            blocks = json.loads(blocks) if blocks.startswith("[") else None
        if not text and not blocks:
            return _error("no_text")
        ws, ts = self.workspace, self._new_ts(now)
        message: dict[str, Any] = {
            "user": ws.bot_user_id,
            "type": "message",
            "ts": ts,
            "bot_id": ws.bot_id,
            "app_id": ws.app_id,
            "text": str(text or ""),
            "team": ws.team_id,
            "bot_profile": {"id": ws.bot_id, "app_id": ws.app_id, "name": ws.bot_name, "team_id": ws.team_id},
            "blocks": blocks if isinstance(blocks, list) else rich_text(str(text), f"s{ts[-4:]}"),
        }
        if params.get("thread_ts"):
            message["thread_ts"] = str(params["thread_ts"])
            parent = self._find(ch.id, message["thread_ts"])
            if parent is not None:
                parent["reply_count"] = int(parent.get("reply_count", 0)) + 1
                parent["latest_reply"] = ts
        self.messages.setdefault(ch.id, []).append(message)
        event = {**message, "channel": ch.id, "event_ts": ts, "channel_type": ch.channel_type}
        event.pop("bot_profile")
        return ApiAnswer(
            200, {"ok": True, "channel": ch.id, "ts": ts, "message": message}, events=(self._event(now, event),)
        )

    def _update(self, params: dict[str, Any], now: float) -> ApiAnswer:
        ch = self._channel(params.get("channel"))
        if ch is None:
            return _error("channel_not_found")
        message = self._find(ch.id, params.get("ts"))
        if message is None:
            return _error("message_not_found")
        if message.get("bot_id") != self.workspace.bot_id:
            return _error("cant_update_message")
        previous = dict(message)
        event_ts = self._new_ts(now)
        message.update(
            text=str(params.get("text") or message.get("text", "")), edited={"user": message["user"], "ts": event_ts}
        )
        if isinstance(params.get("blocks"), list):
            message["blocks"] = params["blocks"]
        event = {
            "type": "message",
            "subtype": "message_changed",
            "message": dict(message),
            "previous_message": previous,
            "channel": ch.id,
            "hidden": True,
            "ts": event_ts,
            "event_ts": event_ts,
            "channel_type": ch.channel_type,
        }
        body = {"ok": True, "channel": ch.id, "ts": message["ts"], "text": message["text"], "message": message}
        return ApiAnswer(200, body, events=(self._event(now, event),))

    def _post_ephemeral(self, params: dict[str, Any], now: float) -> ApiAnswer:
        ch = self._channel(params.get("channel"))
        if ch is None:
            return _error("channel_not_found")
        try:
            self.workspace.user(str(params.get("user") or ""))
        except KeyError:
            return _error("user_not_in_channel")
        if not params.get("text") and not params.get("blocks"):
            return _error("no_text")
        return ApiAnswer(200, {"ok": True, "message_ts": self._new_ts(now)})  # ephemeral: no event, no history

    def _reactions_add(self, params: dict[str, Any], now: float) -> ApiAnswer:
        ch = self._channel(params.get("channel"))
        if ch is None:
            return _error("channel_not_found")
        name = str(params.get("name") or "").strip(":")
        if not name:
            return _error("invalid_name")
        message = self._find(ch.id, params.get("timestamp"))
        if message is None:
            return _error("message_not_found")
        reactions = message.setdefault("reactions", [])
        bot = self.workspace.bot_user_id
        entry = next((r for r in reactions if r["name"] == name), None)
        if entry is not None and bot in entry["users"]:
            return _error("already_reacted")
        if entry is None:
            entry = {"name": name, "users": [], "count": 0}
            reactions.append(entry)
        entry["users"].append(bot)
        entry["count"] += 1
        event = {
            "type": "reaction_added",
            "user": bot,
            "reaction": name,
            "item": {"type": "message", "channel": ch.id, "ts": message["ts"]},
            "event_ts": self._new_ts(now),
        }
        if message.get("user"):
            event["item_user"] = message["user"]
        return ApiAnswer(200, {"ok": True}, events=(self._event(now, event),))

    def _conversations_list(self, params: dict[str, Any], now: float) -> ApiAnswer:
        types = str(params.get("types") or "public_channel").split(",")
        chans = [c for c in self.workspace.channels if "public_channel" in types]
        if "im" in types:
            chans.append(self.workspace.dm)
        body = {
            "ok": True,
            "channels": [channel_object(self.workspace, c) for c in chans],
            "response_metadata": {"next_cursor": ""},
        }
        return ApiAnswer(200, body)

    def _conversations_info(self, params: dict[str, Any], now: float) -> ApiAnswer:
        ch = self._channel(params.get("channel"))
        return (
            _error("channel_not_found")
            if ch is None
            else ApiAnswer(200, {"ok": True, "channel": channel_object(self.workspace, ch)})
        )

    def _history(self, params: dict[str, Any], now: float) -> ApiAnswer:
        ch = self._channel(params.get("channel"))
        if ch is None:
            return _error("channel_not_found")
        limit = int(params.get("limit") or 100)
        top = [m for m in self.messages.get(ch.id, []) if m.get("thread_ts") in (None, m.get("ts"))]
        page = list(reversed(top))[:limit]
        body = {"ok": True, "messages": page, "has_more": len(top) > limit, "response_metadata": {"next_cursor": ""}}
        return ApiAnswer(200, body)

    def _replies(self, params: dict[str, Any], now: float) -> ApiAnswer:
        ch = self._channel(params.get("channel"))
        if ch is None:
            return _error("channel_not_found")
        ts = params.get("ts")
        if not ts:
            return _error("invalid_arguments")
        thread = [m for m in self.messages.get(ch.id, []) if m.get("ts") == ts or m.get("thread_ts") == ts]
        if not thread:
            return _error("thread_not_found")
        return ApiAnswer(
            200, {"ok": True, "messages": thread, "has_more": False, "response_metadata": {"next_cursor": ""}}
        )

    def _users_list(self, params: dict[str, Any], now: float) -> ApiAnswer:
        members = [user_object(self.workspace, u) for u in self.workspace.users] + [bot_user_object(self.workspace)]
        return ApiAnswer(200, {"ok": True, "members": members, "response_metadata": {"next_cursor": ""}})

    def _users_info(self, params: dict[str, Any], now: float) -> ApiAnswer:
        ref = str(params.get("user") or "")
        if ref == self.workspace.bot_user_id:
            return ApiAnswer(200, {"ok": True, "user": bot_user_object(self.workspace)})
        try:
            return ApiAnswer(200, {"ok": True, "user": user_object(self.workspace, self.workspace.user(ref))})
        except KeyError:
            return _error("user_not_found")

    def _store_view(self, view: dict[str, Any], view_id: str | None = None) -> dict[str, Any]:
        view_id = view_id or f"V0SIM{len(self.views) + 1:06d}"
        stored = view_object(
            self.workspace,
            view_id,
            str(view.get("callback_id") or ""),
            title=str((view.get("title") or {}).get("text") or ""),
            blocks=list(view.get("blocks") or []),
            private_metadata=str(view.get("private_metadata") or ""),
            view_type=str(view["type"]),
            view_hash=f"{int(self.workspace.start_epoch)}.{len(self.calls):08d}",
        )
        stored["external_id"] = str(view.get("external_id") or "")
        self.views[view_id] = stored
        return stored

    def _views_open(self, params: dict[str, Any], now: float) -> ApiAnswer:
        if not params.get("trigger_id") and not params.get("interactivity_pointer"):
            return _error(
                "invalid_arguments", response_metadata={"messages": ["[ERROR] missing required field: trigger_id"]}
            )
        view = self._view_param(params.get("view"))
        if view is None or view.get("type") != "modal":
            return _error("invalid_arguments")
        return ApiAnswer(200, {"ok": True, "view": self._store_view(view)})

    def _views_publish(self, params: dict[str, Any], now: float) -> ApiAnswer:
        try:
            self.workspace.user(str(params.get("user_id") or ""))
        except KeyError:
            return _error("user_not_found")
        view = self._view_param(params.get("view"))
        if view is None or view.get("type") != "home":
            return _error("invalid_arguments")
        return ApiAnswer(200, {"ok": True, "view": self._store_view(view)})

    def _views_update(self, params: dict[str, Any], now: float) -> ApiAnswer:
        view_id = params.get("view_id")
        if not view_id and params.get("external_id"):
            view_id = next((k for k, v in self.views.items() if v["external_id"] == params["external_id"]), None)
        view = self._view_param(params.get("view"))
        if view is None:
            return _error("invalid_arguments")
        if not view_id or view_id not in self.views:
            return _error("not_found")
        return ApiAnswer(200, {"ok": True, "view": self._store_view(view, str(view_id))})
