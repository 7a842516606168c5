"""Seeded, reproducible traffic from a small fake Slack workspace (pure: no I/O, no clock).

A :class:`Scenario` is a time-ordered tuple of :class:`ScenarioItem`s. Each item
says *when* (``at``, simulated seconds from the scenario start), *how*
(``kind``: the Socket Mode envelope type ``events_api``, ``slash_commands`` or
``interactive``) and *what* (``payload``: the object exactly as Slack puts it in
the envelope's ``payload``). The simulator (:class:`slacklab.simulator.Simulator`)
plays a scenario over a real WebSocket; nothing here needs it.

Two ways to make one::

    scenario = build_scenario(seed=0, events=200, duration=60.0)   # a busy minute

    b = ScenarioBuilder(seed=1)                                    # hand-made, for tests
    first = b.message(0.0, "deploy went fine")
    b.reaction(0.5, first, "tada")
    b.slash(1.0, "/deploy", "api staging")
    tiny = b.build()

Payload shapes (see Slack's docs and ``reference/slack-protocol.md`` §2.10, §5):

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

Message texts read like a small team at work and include CSV-injection teaching
cases (texts starting with ``=``, ``+``, ``-``, ``@``) and non-ASCII text.
The same seed always gives the same scenario, item for item.
"""

from __future__ import annotations

import base64
import json
import random
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

__all__ = [
    "DEFAULT_WORKSPACE",
    "KINDS",
    "Channel",
    "Scenario",
    "ScenarioBuilder",
    "ScenarioItem",
    "User",
    "Workspace",
    "build_scenario",
]

#: The Socket Mode envelope types a scenario item may have.
KINDS: tuple[str, ...] = ("events_api", "slash_commands", "interactive")


# ------------------------------------------------------------------ workspace


@dataclass(frozen=True, slots=True)
class Channel:
    """A conversation: ``id``, ``name`` and Slack's ``channel_type`` (``channel``, ``im``…)."""

    id: str
    name: str
    channel_type: str = "channel"


@dataclass(frozen=True, slots=True)
class User:
    """A workspace member (``id`` like ``U0SIM…``; ``name`` is the handle)."""

    id: str
    name: str
    real_name: str = ""


@dataclass(frozen=True, slots=True)
class Workspace:
    """The fake workspace every scenario item belongs to. All ids are obviously simulated."""

    team_id: str = "T0SIMTEAM"
    team_domain: str = "simteam"
    app_id: str = "A0SIMAPP"
    bot_user_id: str = "U0SIMBOT"
    bot_id: str = "B0SIMBOT"
    bot_name: str = "slacklab-sim"
    verification_token: str = "SIMULATED-verification-token"
    start_epoch: float = 1767268800.0
    """2026-01-01T12:00:00Z: fixed, so ``event_time``/``ts`` are the same every run."""
    channels: tuple[Channel, ...] = (
        Channel("C0SIMGENERAL", "general"),
        Channel("C0SIMRANDOM", "random"),
        Channel("C0SIMENG", "engineering"),
        Channel("C0SIMDEPLOYS", "deploys"),
        Channel("C0SIMSUPPORT", "support"),
    )
    users: tuple[User, ...] = (
        User("U0SIMALICE", "alice", "Alice Moreau"),
        User("U0SIMBOB", "bob", "Bob Okafor"),
        User("U0SIMCHLOE", "chloe", "Chloé Durand"),
        User("U0SIMDEV", "dev", "Devika Rao"),
        User("U0SIMERIK", "erik", "Erik Šimek"),
        User("U0SIMFATIMA", "fatima", "Fatima Haddad"),
    )
    dm: Channel = Channel("D0SIMBOTDM", "", "im")

    def channel(self, ref: str | Channel | None) -> Channel:
        """The channel with this id or name (``None``: the first channel)."""
        if isinstance(ref, Channel):
            return ref
        if ref is None:
            return self.channels[0]
        for ch in (*self.channels, self.dm):
            if ref in (ch.id, ch.name, f"#{ch.name}"):
                return ch
        raise KeyError(f"no channel {ref!r} in the simulated workspace")

    def user(self, ref: str | User | None) -> User:
        """The user with this id or name (``None``: the first user)."""
        if isinstance(ref, User):
            return ref
        if ref is None:
            return self.users[0]
        for u in self.users:
            if ref in (u.id, u.name, f"@{u.name}"):
                return u
        raise KeyError(f"no user {ref!r} in the simulated workspace")


DEFAULT_WORKSPACE = Workspace()


# ---------------------------------------------------------------------- items


@dataclass(frozen=True, slots=True)
class ScenarioItem:
    """One delivery-to-be: ``payload`` of envelope type ``kind`` at ``at`` simulated seconds.

    ``accepts_response_payload`` overrides the envelope flag (default: true for
    ``slash_commands`` and ``interactive``, false for ``events_api``).
    """

    at: float
    kind: str
    payload: Mapping[str, Any]
    accepts_response_payload: bool | None = None

    @property
    def label(self) -> str:
        """A short description: ``message``, ``message/thread_broadcast``, ``/deploy``, ``block_actions``…"""
        if self.kind == "slash_commands":
            return str(self.payload.get("command") or "slash_command")
        if self.kind == "events_api":
            event = self.payload.get("event")
            if isinstance(event, Mapping):
                sub = event.get("subtype")
                label = str(event.get("type") or "event")
                if sub:
                    return f"{label}/{sub}"
                if event.get("thread_ts") and label == "message":
                    return "message/thread_reply"
                return label
        return str(self.payload.get("type") or self.kind)


@dataclass(frozen=True, slots=True)
class Scenario:
    """A time-ordered, immutable sequence of :class:`ScenarioItem`.

    Build one with :func:`build_scenario`, :class:`ScenarioBuilder` or
    :meth:`from_items`; hand it to ``Simulator(scenario)``. ``a + b`` merges two
    scenarios by time.
    """

    items: tuple[ScenarioItem, ...] = ()
    seed: int | None = None
    workspace: Workspace = field(default=DEFAULT_WORKSPACE, repr=False)

    @classmethod
    def from_items(
        cls, items: Iterable[ScenarioItem], *, workspace: Workspace = DEFAULT_WORKSPACE
    ) -> Scenario:
        """A scenario of exactly these items, sorted by ``at`` (stable for equal times)."""
        checked = []
        for item in items:
            if not isinstance(item, ScenarioItem):
                raise TypeError(f"expected ScenarioItem, got {type(item).__name__}")
            if item.kind not in KINDS:
                raise ValueError(f"unknown kind {item.kind!r}; expected one of {KINDS}")
            if item.at < 0 or item.at != item.at:
                raise ValueError(f"item time must be a number >= 0, got {item.at!r}")
            checked.append(item)
        return cls(tuple(sorted(checked, key=lambda i: i.at)), None, workspace)

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[ScenarioItem]:
        return iter(self.items)

    def __getitem__(self, index: int) -> ScenarioItem:
        return self.items[index]

    def __add__(self, other: Scenario) -> Scenario:
        return Scenario.from_items((*self.items, *other.items), workspace=self.workspace)

    @property
    def duration(self) -> float:
        """Simulated seconds from the start to the last item (0 when empty)."""
        return self.items[-1].at if self.items else 0.0

    def counts(self) -> dict[str, int]:
        """How many items of each :attr:`ScenarioItem.label`, most common first."""
        return dict(Counter(item.label for item in self.items).most_common())

    def __repr__(self) -> str:
        return (
            f"Scenario({len(self.items)} items over {self.duration:.1f} simulated s, "
            f"seed={self.seed}, team={self.workspace.team_id})"
        )


# -------------------------------------------------------------------- builder


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
            lambda: f"{self._rng.randrange(10**10, 10**11)}.{self._rng.randrange(10**11, 10**12)}."
            f"{self._rng.getrandbits(128):032x}"
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

    def reply(self, at: float, parent: ScenarioItem, text: str, *, user: str | User | None = None,
              broadcast: bool = False) -> ScenarioItem:
        """A thread reply to ``parent`` (a message item); ``broadcast`` makes it a ``thread_broadcast``."""
        p = _inner(parent)
        ch = self.workspace.channel(p["channel"])
        if not broadcast:
            return self.message(at, text, channel=ch, user=user, thread_ts=p["ts"], parent_user=p.get("user"))
        u = self.workspace.user(user)
        event = self._user_message(at, text, ch, u)
        event.update(
            subtype="thread_broadcast",
            thread_ts=p["ts"],
            root={"type": "message", "user": p.get("user"), "text": p.get("text"), "ts": p["ts"],
                  "thread_ts": p["ts"], "reply_count": 1},
        )
        return self.event(at, event)

    def bot_message(self, at: float, text: str, *, channel: str | Channel | None = "deploys",
                    username: str = "ci-bot", bot_id: str = "B0SIMCIBOT") -> ScenarioItem:
        """A classic ``bot_message`` subtype (an integration such as CI)."""
        ch = self.workspace.channel(channel)
        ts = self._ts(at)
        return self.event(at, {
            "type": "message", "subtype": "bot_message", "text": text, "ts": ts,
            "bot_id": bot_id, "username": username, "icons": {}, "channel": ch.id,
            "event_ts": ts, "channel_type": ch.channel_type,
        })

    def edit(self, at: float, original: ScenarioItem, new_text: str) -> ScenarioItem:
        """``message_changed`` for ``original`` (hidden; ``message`` holds the new version)."""
        p = _inner(original)
        ts = self._ts(at)
        return self.event(at, {
            "type": "message", "subtype": "message_changed", "hidden": True,
            "message": {"type": "message", "user": p.get("user"), "text": new_text, "ts": p["ts"],
                        "edited": {"user": p.get("user"), "ts": ts}, "client_msg_id": p.get("client_msg_id")},
            "channel": p["channel"],
            "previous_message": {"type": "message", "user": p.get("user"), "text": p.get("text"), "ts": p["ts"]},
            "event_ts": ts, "ts": ts, "channel_type": p.get("channel_type", "channel"),
        })

    def delete(self, at: float, original: ScenarioItem) -> ScenarioItem:
        """``message_deleted`` for ``original`` (hidden; ``deleted_ts`` is the original ``ts``)."""
        p = _inner(original)
        ts = self._ts(at)
        return self.event(at, {
            "type": "message", "subtype": "message_deleted", "hidden": True,
            "deleted_ts": p["ts"], "channel": p["channel"],
            "previous_message": {"type": "message", "user": p.get("user"), "text": p.get("text"), "ts": p["ts"]},
            "event_ts": ts, "ts": ts, "channel_type": p.get("channel_type", "channel"),
        })

    def reaction(self, at: float, target: ScenarioItem, reaction: str, *,
                 user: str | User | None = None, removed: bool = False) -> ScenarioItem:
        """``reaction_added`` (or ``reaction_removed``) on the message ``target``."""
        p = _inner(target)
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

    def app_mention(self, at: float, text: str, *, channel: str | Channel | None = None,
                    user: str | User | None = None, with_message: bool = True) -> ScenarioItem:
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

    def join(self, at: float, *, user: str | User | None = None, channel: str | Channel | None = None,
             inviter: str | User | None = None, with_message: bool = True) -> ScenarioItem:
        """``member_joined_channel`` and (``with_message``) the ``channel_join`` message subtype."""
        ch, u = self.workspace.channel(channel), self.workspace.user(user)
        ts = self._ts(at)
        event: dict[str, Any] = {"type": "member_joined_channel", "user": u.id, "channel": ch.id,
                                 "channel_type": "C", "team": self.workspace.team_id, "event_ts": ts}
        if inviter:
            event["inviter"] = self.workspace.user(inviter).id
        item = self.event(at, event)
        if with_message:
            self.event(at, {"type": "message", "subtype": "channel_join", "user": u.id,
                            "text": f"<@{u.id}> has joined the channel", "ts": ts, "channel": ch.id,
                            "event_ts": ts, "channel_type": ch.channel_type})
        return item

    # ---- slash commands and interactivity

    def slash(self, at: float, command: str, text: str = "", *, channel: str | Channel | None = None,
              user: str | User | None = None) -> ScenarioItem:
        """A slash command (``/deploy api staging``) as its Socket Mode payload."""
        ws = self.workspace
        ch, u = ws.channel(channel), ws.user(user)
        payload = {
            "token": ws.verification_token, "team_id": ws.team_id, "team_domain": ws.team_domain,
            "channel_id": ch.id, "channel_name": ch.name or "directmessage", "user_id": u.id,
            "user_name": u.name, "command": command, "text": text, "api_app_id": ws.app_id,
            "is_enterprise_install": "false", "response_url": self._response_url("commands"),
            "trigger_id": self._trigger_id(),
        }
        return self._add(ScenarioItem(float(at), "slash_commands", payload))

    def block_action(self, at: float, action_id: str, *, value: str = "", label: str = "OK",
                     message_text: str = "", channel: str | Channel | None = None,
                     user: str | User | None = None) -> ScenarioItem:
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
            "container": {"type": "message", "message_ts": message_ts, "channel_id": ch.id,
                          "is_ephemeral": False},
            "trigger_id": self._trigger_id(),
            "team": {"id": ws.team_id, "domain": ws.team_domain},
            "enterprise": None,
            "is_enterprise_install": False,
            "channel": {"id": ch.id, "name": ch.name},
            "message": {
                "type": "message", "user": ws.bot_user_id, "bot_id": ws.bot_id, "text": message_text,
                "ts": message_ts, "team": ws.team_id,
                "blocks": [{"type": "actions", "block_id": block_id, "elements": [
                    {"type": "button", "action_id": action_id, "value": value,
                     "text": {"type": "plain_text", "text": label, "emoji": True}}]}],
            },
            "state": {"values": {}},
            "response_url": self._response_url("actions"),
            "actions": [{
                "action_id": action_id, "block_id": block_id,
                "text": {"type": "plain_text", "text": label, "emoji": True},
                "value": value, "type": "button", "action_ts": self._ts(at),
            }],
        }
        return self._add(ScenarioItem(float(at), "interactive", payload))

    def build(self) -> Scenario:
        """The scenario made so far (sorted by time)."""
        scenario = Scenario.from_items(self._items, workspace=self.workspace)
        return replace(scenario, seed=self._seed)


def _inner(item: ScenarioItem) -> Mapping[str, Any]:
    event = item.payload.get("event") if item.kind == "events_api" else None
    if not isinstance(event, Mapping) or "ts" not in event or "channel" not in event:
        raise ValueError(f"{item.label!r} item is not a message with a channel and ts")
    return event


# ------------------------------------------------------------ generated traffic

# Things a small product team says. A few start with = + - @ (CSV-injection
# teaching cases) and several are not ASCII.
_TEXTS = (
    "morning all ☀️",
    "standup in 5, grab a coffee",
    "who broke the staging build? :sweat_smile:",
    "PR #482 is ready for review, it's the retry fix",
    "lunch? thinking tacos 🌮",
    "the flaky test is back in CI",
    "anyone seen the Q3 roadmap doc?",
    "ok the migration ran, 0 errors",
    "I'll be offline for an hour, dentist",
    "can someone with prod access check the queue depth?",
    "ship it 🚀",
    "Café at 3? ☕",
    "Grüße aus München! Das Deployment läuft.",
    "¡Buenos días! ¿Alguien revisó el ticket?",
    "日本語のテストメッセージです",
    "naïve question: why do we retry on 429?",
    "Zürich office says hi 👋",
    "latency p99 is back to 180 ms",
    "the dashboard is lying again",
    "merging after lunch unless someone objects",
    "customer says the export is missing rows",
    "new hire starts Monday, please say hi",
    "rollback done, incident closed",
    "writing the postmortem now",
    "does anyone know the wifi password here?",
    "thanks <@U0SIMBOB>, that fixed it",
    "see <#C0SIMENG|engineering> for the details",
    "docs: <https://example.com/runbook|runbook>",
    "=SUM(1+1)",
    "+1 from me",
    "-1, let's wait until Friday",
    "@here standup is moved to 10:30",
    "=HYPERLINK(\"https://example.com\",\"click me\")",
    "-2+3 is what the calculator said",
    "+49 30 1234567 is the office line",
    "this is fine 🔥🐶🔥",
    "emoji only: 🎉🎉🎉",
    "tab\tseparated\tvalues, why not",
    "line one\nline two",
    "quotes \"inside\" text, and a comma",
    "Ελληνικά, русский, עברית, العربية — all in one message",
    "brb",
    "👀",
)
_REPLIES = (
    "on it", "done ✅", "+1", "looks good to me", "can you share the logs?",
    "I think it's the cache", "merci !", "let me check", "same here", "fixed in main",
    "=1+2 (sorry, spreadsheet habit)", "@channel FYI", "ja, passt",
)
_REACTIONS = ("thumbsup", "eyes", "tada", "white_check_mark", "heart", "joy", "rocket", "pray", "fire")
_BOT_TEXTS = (
    "Build #{n} passed ✅ (main, 4m12s)",
    "Build #{n} failed ❌ test_export_csv",
    "Deployed web@{n} to staging",
    "Nightly backup finished: 1.2 GB",
)
_MENTIONS = (
    "what's the status of the deploy?", "please summarise this thread", "remind me at 4pm",
    "¿puedes ayudarme?", "=cmd|' /C calc'!A0", "help",
)
_COMMANDS = (
    ("/deploy", ("api staging", "web production", "worker staging", "api production --force")),
    ("/weather", ("Berlin", "94070", "São Paulo", "")),
    ("/standup", ("", "yesterday: tests; today: docs")),
    ("/oncall", ("", "who")),
    ("/poll", ("\"Lunch?\" pizza tacos ramen", "=1+1")),
)
_ACTIONS = (
    ("approve_deploy", "Approve", "deploy-api-prod", "Deploy api to production?"),
    ("reject_deploy", "Reject", "deploy-api-prod", "Deploy api to production?"),
    ("ack_incident", "Acknowledge", "INC-42", "Incident INC-42: api latency above 500 ms"),
    ("vote_lunch", "Tacos", "tacos", "Lunch vote 🍕🌮🍜"),
)

#: Relative weights of what happens next in :func:`build_scenario`.
DEFAULT_WEIGHTS: Mapping[str, float] = {
    "message": 40, "reply": 12, "broadcast": 2, "edit": 4, "delete": 2, "bot": 4,
    "join": 2, "reaction_added": 10, "reaction_removed": 3, "mention": 5, "dm": 2,
    "slash": 5, "action": 4,
}


class _Deck:
    """Draw texts without repeats until all were used (so every teaching case shows up)."""

    def __init__(self, rng: random.Random, texts: tuple[str, ...]) -> None:
        self._rng = rng
        self._texts = texts
        self._left: list[str] = []

    def draw(self) -> str:
        if not self._left:
            self._left = list(self._texts)
            self._rng.shuffle(self._left)
        return self._left.pop()


def _plan(rng: random.Random, names: list[str], weights: list[float], events: int) -> list[str]:
    """What each draw will be: weighted, starting with a message, and (when there is
    room) every kind with a positive weight at least once in the first half."""
    plan = rng.choices(names, weights=weights, k=events) if names else []
    if not plan:
        return plan
    if "message" in names:
        plan[0] = "message"
    surely_used = plan[: events // 2]  # a draw makes one or two items, so these all happen
    missing = [n for n in names if n not in surely_used]
    if "reaction_removed" in surely_used and "reaction_removed" not in missing and (
        "reaction_added" not in surely_used
        or surely_used.index("reaction_added") > surely_used.index("reaction_removed")
    ):
        missing.append("reaction_removed")  # it would fall back to reaction_added
    if "reaction_removed" in missing:  # needs an earlier reaction to remove
        missing.insert(missing.index("reaction_removed"), "reaction_added")
    # overwrite only draws whose kind also happens elsewhere in the first half
    counts = Counter(surely_used)
    spare = list(range(1, len(surely_used)))
    rng.shuffle(spare)
    chosen: list[int] = []
    for slot in spare:
        if len(chosen) == len(missing):
            break
        if counts[plan[slot]] > 1:
            counts[plan[slot]] -= 1
            chosen.append(slot)
    for slot, name in zip(sorted(chosen), missing):
        plan[slot] = name
    return plan


def build_scenario(
    seed: int = 0,
    events: int = 200,
    duration: float = 60.0,
    *,
    workspace: Workspace = DEFAULT_WORKSPACE,
    weights: Mapping[str, float] | None = None,
) -> Scenario:
    """A busy stretch of workspace traffic: ``events`` items spread over ``duration`` simulated seconds.

    The mix (see :data:`DEFAULT_WEIGHTS`, override with ``weights``): plain
    messages, thread replies and broadcasts, edits and deletions, CI bot
    messages, joins (``member_joined_channel`` plus its ``channel_join``
    message), reactions added and removed, app mentions (with the matching
    ``message`` event), DMs to the bot, slash commands and button clicks.
    The first item is a plain message; an item needing an earlier message
    (replies, reactions, edits) or reaction (removals) gets one made first. With
    about 40 events or more, every kind with a positive weight shows up at least
    once. Same arguments ⇒ identical scenario.
    """
    if events < 0:
        raise ValueError("events must be >= 0")
    if duration < 0:
        raise ValueError("duration must be >= 0")
    rng = random.Random(seed)
    b = ScenarioBuilder(seed=seed, workspace=workspace)
    table = dict(weights if weights is not None else DEFAULT_WEIGHTS)
    unknown = set(table) - set(DEFAULT_WEIGHTS)
    if unknown:
        raise ValueError(f"unknown weight names {sorted(unknown)}; known: {sorted(DEFAULT_WEIGHTS)}")
    names = [n for n, w in table.items() if w > 0]
    if not names and events:
        raise ValueError("at least one weight must be > 0")
    cum = [table[n] for n in names]
    times = sorted(rng.uniform(0.0, duration) for _ in range(events))
    texts, replies, mentions = _Deck(rng, _TEXTS), _Deck(rng, _REPLIES), _Deck(rng, _MENTIONS)
    public = [c for c in workspace.channels]
    posts: list[ScenarioItem] = []            # user messages that can be replied to/edited/reacted to
    reactions: list[tuple[ScenarioItem, str, User]] = []
    build_no = 1000
    plan = _plan(rng, names, cum, events)
    draw = 0
    while len(b._items) < events:
        at = round(times[len(b._items)], 3)
        room = events - len(b._items)
        kind = plan[draw] if draw < len(plan) else rng.choices(names, weights=cum)[0]
        draw += 1
        user = rng.choice(workspace.users)
        # Something that needs an earlier message (or reaction) when there is none
        # yet: make that first and do the planned thing on the next draw.
        if kind in ("reply", "broadcast", "edit", "delete", "reaction_added") and not posts:
            plan.insert(draw, kind)
            kind = "message"
        if kind == "reaction_removed" and not reactions:
            plan.insert(draw, kind)
            kind = "reaction_added" if posts else "message"
        if kind in ("join", "mention") and room < 2:
            kind = "message"
        if kind == "message":
            posts.append(b.message(at, texts.draw(), channel=rng.choice(public), user=user))
        elif kind in ("reply", "broadcast"):
            parent = rng.choice(posts[-8:])
            b.reply(at, parent, replies.draw(), user=user, broadcast=kind == "broadcast")
        elif kind == "edit":
            original = rng.choice(posts[-8:])
            b.edit(at, original, str(_inner(original).get("text", "")) + " (edited: typo)")
        elif kind == "delete":
            original = posts.pop(rng.randrange(max(0, len(posts) - 8), len(posts)))
            b.delete(at, original)
        elif kind == "bot":
            build_no += rng.randrange(1, 7)
            b.bot_message(at, rng.choice(_BOT_TEXTS).format(n=build_no))
        elif kind == "join":
            b.join(at, user=user, channel=rng.choice(public), inviter=rng.choice(workspace.users))
        elif kind == "reaction_added":
            target = rng.choice(posts[-12:])
            name = rng.choice(_REACTIONS)
            b.reaction(at, target, name, user=user)
            reactions.append((target, name, user))
        elif kind == "reaction_removed":
            target, name, who = reactions.pop(rng.randrange(len(reactions)))
            b.reaction(at, target, name, user=who, removed=True)
        elif kind == "mention":
            b.app_mention(at, mentions.draw(), channel=rng.choice(public), user=user)
        elif kind == "dm":
            b.message(at, rng.choice(("hi bot 👋", "help", "status?", "=2+2")), channel=workspace.dm, user=user)
        elif kind == "slash":
            command, args = rng.choice(_COMMANDS)
            b.slash(at, command, rng.choice(args), channel=rng.choice(public), user=user)
        elif kind == "action":
            action_id, label, value, text = rng.choice(_ACTIONS)
            b.block_action(at, action_id, value=value, label=label, message_text=text,
                           channel=rng.choice(public), user=user)
    return b.build()
