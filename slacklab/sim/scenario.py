"""Seeded, reproducible traffic from a small fake Slack workspace (pure: no I/O, no clock).

:func:`build_scenario` makes a busy stretch of workspace traffic: messages,
threads, edits, reactions, mentions, slash commands, button clicks… drawn from
text pools that read like a small team at work and include CSV-injection
teaching cases (texts starting with ``=``, ``+``, ``-``, ``@``) and non-ASCII
text. The same seed always gives the same scenario, item for item.

This is also the one place to import the scenario API from: the types
(:class:`Scenario`, :class:`ScenarioItem`, :class:`Workspace`…, defined in
:mod:`slacklab.sim.workspace`) and :class:`ScenarioBuilder` (hand-made items with
Slack's payload shapes, defined in :mod:`slacklab.sim.payloads`). The simulator
(:class:`slacklab.sim.server.Simulator`) plays a scenario over a real WebSocket;
nothing here needs it. Two ways to make one::

    scenario = build_scenario(seed=0, events=200, duration=60.0)   # a busy minute

    b = ScenarioBuilder(seed=1)                                    # hand-made, for tests
    first = b.message(0.0, "deploy went fine")
    b.reaction(0.5, first, "tada")
    b.slash(1.0, "/deploy", "api staging")
    tiny = b.build()
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Mapping

from slacklab.sim.payloads import ScenarioBuilder, message_event
from slacklab.sim.workspace import DEFAULT_WORKSPACE, KINDS, Channel, Scenario, ScenarioItem, User, Workspace

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
    '=HYPERLINK("https://example.com","click me")',
    "-2+3 is what the calculator said",
    "+49 30 1234567 is the office line",
    "this is fine 🔥🐶🔥",
    "emoji only: 🎉🎉🎉",
    "tab\tseparated\tvalues, why not",
    "line one\nline two",
    'quotes "inside" text, and a comma',
    "Ελληνικά, русский, עברית, العربية — all in one message",
    "brb",
    "👀",
)
_REPLIES = (
    "on it",
    "done ✅",
    "+1",
    "looks good to me",
    "can you share the logs?",
    "I think it's the cache",
    "merci !",
    "let me check",
    "same here",
    "fixed in main",
    "=1+2 (sorry, spreadsheet habit)",
    "@channel FYI",
    "ja, passt",
)
_REACTIONS = ("thumbsup", "eyes", "tada", "white_check_mark", "heart", "joy", "rocket", "pray", "fire")
_BOT_TEXTS = (
    "Build #{n} passed ✅ (main, 4m12s)",
    "Build #{n} failed ❌ test_export_csv",
    "Deployed web@{n} to staging",
    "Nightly backup finished: 1.2 GB",
)
_MENTIONS = (
    "what's the status of the deploy?",
    "please summarise this thread",
    "remind me at 4pm",
    "¿puedes ayudarme?",
    "=cmd|' /C calc'!A0",
    "help",
)
_COMMANDS = (
    ("/deploy", ("api staging", "web production", "worker staging", "api production --force")),
    ("/weather", ("Berlin", "94070", "São Paulo", "")),
    ("/standup", ("", "yesterday: tests; today: docs")),
    ("/oncall", ("", "who")),
    ("/poll", ('"Lunch?" pizza tacos ramen', "=1+1")),
)
_ACTIONS = (
    ("approve_deploy", "Approve", "deploy-api-prod", "Deploy api to production?"),
    ("reject_deploy", "Reject", "deploy-api-prod", "Deploy api to production?"),
    ("ack_incident", "Acknowledge", "INC-42", "Incident INC-42: api latency above 500 ms"),
    ("vote_lunch", "Tacos", "tacos", "Lunch vote 🍕🌮🍜"),
)

_FILES = ("chart.png", "q3-report.pdf", "export.csv", "screenshot.jpg")

#: Relative weights of what happens next in :func:`build_scenario`.
DEFAULT_WEIGHTS: Mapping[str, float] = {
    "message": 40,
    "reply": 12,
    "broadcast": 2,
    "edit": 4,
    "delete": 2,
    "bot": 4,
    "join": 2,
    "reaction_added": 10,
    "reaction_removed": 3,
    "mention": 5,
    "dm": 2,
    "slash": 5,
    "action": 4,
    "file": 2,
    "app_home": 2,
    "shortcut": 1,
    "message_action": 1,
    "view_submission": 1,
    "assistant": 0.5,
    "function": 0.5,
    "channel_shared": 0.25,
    # Off by default (pass weights=... to mix them in): these carry neither an event_id nor a
    # trigger_id, so a capture keys each delivery by its envelope while the simulator's ground
    # truth keys the item; exact capture-vs-truth checks cannot pair them yet.
    "view_closed": 0,
    "block_suggestion": 0,
    "rate_limited": 0,
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
    if (
        "reaction_removed" in surely_used
        and "reaction_removed" not in missing
        and (
            "reaction_added" not in surely_used
            or surely_used.index("reaction_added") > surely_used.index("reaction_removed")
        )
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
    for slot, name in zip(sorted(chosen), missing, strict=False):
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
    ``message`` event), DMs to the bot, slash commands and button clicks; and,
    rarer, file uploads (``file_share`` plus ``file_shared``), App Home opens,
    shortcuts, message shortcuts, modal submissions, assistant threads, workflow
    steps (``function_executed``) and ``channel_shared``. Modal closes, options
    requests (``block_suggestion``) and ``app_rate_limited`` have weight 0 by default
    (see :data:`DEFAULT_WEIGHTS`); ``weights={..., "rate_limited": 1}`` mixes them in.
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
    posts: list[ScenarioItem] = []  # user messages that can be replied to/edited/reacted to
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
        if kind in ("reply", "broadcast", "edit", "delete", "reaction_added", "message_action") and not posts:
            plan.insert(draw, kind)
            kind = "message"
        if kind == "reaction_removed" and not reactions:
            plan.insert(draw, kind)
            kind = "reaction_added" if posts else "message"
        if kind in ("join", "mention", "file") and room < 2:
            kind = "message"
        if kind == "message":
            posts.append(b.message(at, texts.draw(), channel=rng.choice(public), user=user))
        elif kind in ("reply", "broadcast"):
            parent = rng.choice(posts[-8:])
            b.reply(at, parent, replies.draw(), user=user, broadcast=kind == "broadcast")
        elif kind == "edit":
            original = rng.choice(posts[-8:])
            b.edit(at, original, str(message_event(original).get("text", "")) + " (edited: typo)")
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
            b.block_action(
                at, action_id, value=value, label=label, message_text=text, channel=rng.choice(public), user=user
            )
        elif kind == "file":
            b.file_share(
                at,
                rng.choice(_FILES),
                rng.choice(("", "here you go", "Q3 numbers 📈")),
                channel=rng.choice(public),
                user=user,
            )
        elif kind == "app_home":
            b.app_home_opened(at, user=user, tab=rng.choice(("home", "home", "messages")))
        elif kind == "shortcut":
            b.shortcut(at, rng.choice(("new_ticket", "start_standup")), user=user)
        elif kind == "message_action":
            b.message_action(at, rng.choice(posts[-8:]), rng.choice(("summarise", "create_ticket")), user=user)
        elif kind == "view_submission":
            b.view_submission(at, "ticket_modal", texts.draw(), user=user)
        elif kind == "view_closed":
            b.view_closed(at, "ticket_modal", user=user)
        elif kind == "block_suggestion":
            b.block_suggestion(at, "search", rng.choice(("", "a", "api", "Zür")), user=user)
        elif kind == "assistant":
            b.assistant_thread_started(at, user=user, context_channel=rng.choice(public))
        elif kind == "function":
            b.function_executed(at, user=user)
        elif kind == "channel_shared":
            b.channel_shared(at, channel=rng.choice(public))
        elif kind == "rate_limited":
            b.app_rate_limited(at)
    return b.build()
