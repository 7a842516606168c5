"""Test helpers for Slack app authors: a simulated Slack in a pytest fixture, offline.

With slacklab installed, pytest finds the ``slack_simulator`` fixture by itself
(a ``pytest11`` plugin); or import it into a ``conftest.py``. A Bolt app test::

    from slack_bolt import App
    from slack_bolt.adapter.socket_mode import SocketModeHandler
    from slack_sdk import WebClient
    from slacklab.testing import assert_acked_within, send_and_wait_for_reply

    def test_replies(slack_simulator):
        app = App(client=WebClient(token=slack_simulator.bot_token, base_url=slack_simulator.api_url))
        app.event("app_mention")(lambda event, say: say("on it", thread_ts=event["ts"]))
        handler = SocketModeHandler(app, slack_simulator.app_token)
        handler.connect()
        try:
            reply = send_and_wait_for_reply(slack_simulator, "deploy status?")
            assert reply.params["text"] == "on it"
        finally:
            handler.close()

Helpers: :func:`send_and_wait_for_reply`, :func:`send_and_wait_for_answer` (a response
payload in the ack: Bolt's ``ack(text=...)``, or ``cap.respond``), :func:`assert_acked_within`,
:func:`payload` (Slack's shape of every event family, from the simulator's
builders), :func:`scenario_from_capture` (replay a journal, HAR or capture),
:func:`running_simulator` (the fixture as a context manager). See ``docs/testing.md``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from slacklab.capture import Capture
from slacklab.fields import extract
from slacklab.schema import event_key
from slacklab.sim.answers import answer_type
from slacklab.sim.scenario import KINDS, Scenario, ScenarioBuilder, ScenarioItem, Workspace
from slacklab.sim.server import Simulator
from slacklab.sim.webapi_methods import ApiCall

__all__ = [
    "FAMILIES",
    "assert_acked_within",
    "payload",
    "running_simulator",
    "scenario_from_capture",
    "send_and_wait_for_answer",
    "send_and_wait_for_reply",
]


@contextmanager
def running_simulator(scenario: Scenario | list[ScenarioItem] | None = None, **options: Any) -> Iterator[Simulator]:
    """A started :class:`Simulator` (default: no scenario, as fast as possible, ``response_url`` s
    answered by the simulator), closed on exit."""
    options.setdefault("speed", None)
    options.setdefault("local_response_urls", True)
    with Simulator([] if scenario is None else scenario, **options) as sim:
        yield sim


# ------------------------------------------------------------ payload factories


def _families() -> dict[str, Callable[[ScenarioBuilder, dict[str, Any]], ScenarioItem]]:
    def first(b: ScenarioBuilder) -> ScenarioItem:
        return b.message(0.0, "the message this is about")

    return {
        "message": lambda b, kw: b.message(0.0, kw.pop("text", "hello"), **kw),
        "app_mention": lambda b, kw: b.app_mention(0.0, kw.pop("text", "help"), with_message=False, **kw),
        "thread_reply": lambda b, kw: b.reply(0.0, first(b), kw.pop("text", "on it"), **kw),
        "thread_broadcast": lambda b, kw: b.reply(0.0, first(b), kw.pop("text", "done"), broadcast=True, **kw),
        "message_changed": lambda b, kw: b.edit(0.0, first(b), kw.pop("text", "edited")),
        "message_deleted": lambda b, kw: b.delete(0.0, first(b)),
        "bot_message": lambda b, kw: b.bot_message(0.0, kw.pop("text", "Build passed"), **kw),
        "file_share": lambda b, kw: b.file_share(0.0, with_file_shared=False, **kw),
        "file_shared": lambda b, kw: (b.file_share(0.0, **kw), b.items[-1])[1],
        "channel_join": lambda b, kw: (b.join(0.0, **kw), b.items[-1])[1],
        "member_joined_channel": lambda b, kw: b.join(0.0, with_message=False, **kw),
        "reaction_added": lambda b, kw: b.reaction(0.0, first(b), kw.pop("reaction", "tada"), **kw),
        "reaction_removed": lambda b, kw: b.reaction(0.0, first(b), kw.pop("reaction", "tada"), removed=True, **kw),
        "app_home_opened": lambda b, kw: b.app_home_opened(0.0, **kw),
        "channel_shared": lambda b, kw: b.channel_shared(0.0, **kw),
        "assistant_thread_started": lambda b, kw: b.assistant_thread_started(0.0, **kw),
        "function_executed": lambda b, kw: b.function_executed(0.0, **kw),
        "app_rate_limited": lambda b, kw: b.app_rate_limited(0.0),
        "slash_command": lambda b, kw: b.slash(0.0, kw.pop("command", "/deploy"), kw.pop("text", ""), **kw),
        "block_actions": lambda b, kw: b.block_action(0.0, kw.pop("action_id", "approve"), **kw),
        "block_suggestion": lambda b, kw: b.block_suggestion(0.0, **kw),
        "shortcut": lambda b, kw: b.shortcut(0.0, kw.pop("callback_id", "new_ticket"), **kw),
        "message_action": lambda b, kw: b.message_action(0.0, first(b), kw.pop("callback_id", "summarise"), **kw),
        "view_submission": lambda b, kw: b.view_submission(0.0, kw.pop("callback_id", "ticket_modal"), **kw),
        "view_closed": lambda b, kw: b.view_closed(0.0, kw.pop("callback_id", "ticket_modal"), **kw),
    }


_FACTORIES = _families()
#: The event families :func:`payload` makes.
FAMILIES: tuple[str, ...] = tuple(_FACTORIES)


def payload(
    family: str, *, workspace: Workspace | None = None, seed: int = 0, at: float = 0.0, **options: Any
) -> ScenarioItem:
    """One item of ``family`` (see :data:`FAMILIES`) in Slack's shape, from the simulator's builders.

    ``options`` go to the builder method (``text=``, ``channel=``, ``user=``…);
    ``workspace=Workspace.enterprise()`` gives Enterprise Grid / Slack Connect shapes.
    ``item.payload`` is the envelope payload; hand the item to ``sim.add([item])``.
    """
    make = _FACTORIES.get(family)
    if make is None:
        raise ValueError(f"unknown family {family!r}; one of {', '.join(FAMILIES)}")
    b = ScenarioBuilder(seed=seed, workspace=workspace or Workspace())
    return replace(make(b, dict(options)), at=float(at))


# ------------------------------------------------------------ scenarios from captures


def scenario_from_capture(source: Capture | str | Path, *, workspace: Workspace | None = None) -> Scenario:
    """A scenario that plays the deliveries of a capture, journal or HTTP log again, with their spacing.

    One item per event (retries are the simulator's business); payloads as recorded
    (slacklab masks secrets when it records, so masked values stay masked).
    """
    if not isinstance(source, Capture):
        from slacklab.loader import load

        source = load(source)
    df = source.deliveries()
    df = df[df["kind"].isin(KINDS)].drop_duplicates("event_key").sort_values("received_at")
    if df.empty:
        return Scenario.from_items([], workspace=workspace or Workspace())
    start = df["received_at"].iloc[0]
    items = []
    for row in df.itertuples(index=False):
        body = row.payload if isinstance(row.payload, dict) else json.loads(row.payload)
        items.append(ScenarioItem((row.received_at - start).total_seconds(), str(row.kind), body))
    return Scenario.from_items(items, workspace=workspace or Workspace())


# ------------------------------------------------------------ waiting for the app


def _key(item: ScenarioItem) -> str | None:
    f = extract(item.kind, dict(item.payload))
    return event_key(
        event_id=f["event_id"],
        team_id=f["team_id"],
        api_app_id=f["api_app_id"],
        trigger_id=f["trigger_id"],
        envelope_id=None,
    )


def send_and_wait_for_reply(
    sim: Simulator,
    message: str | ScenarioItem,
    *,
    channel: str | None = None,
    user: str | None = None,
    timeout: float = 10.0,
) -> ApiCall:
    """Deliver ``message`` to the app and wait for its reply; returns the reply call.

    A string is sent as an ``app_mention`` (``channel``/``user``: names or ids in the
    simulated workspace); an item (see :func:`payload`) is sent as it is. The reply is
    the app's next successful ``chat.postMessage``, ``chat.postEphemeral`` or
    ``chat.update`` (``method``, ``params``) or POST to a ``response_url``
    (``method == "response_url"``). Raises ``AssertionError`` on timeout.
    """
    if isinstance(message, str):
        b = ScenarioBuilder(seed=len(sim.web.calls) + 1000, workspace=sim.scenario.workspace)
        item = b.app_mention(0.0, message, channel=channel, user=user, with_message=False)
    else:
        item = replace(message, at=0.0)
    calls_before, responses_before = len(sim.web.calls), len(sim.web.responses)
    sim.add([item])
    replies = ("chat.postMessage", "chat.postEphemeral", "chat.update")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for call in sim.web.calls[calls_before:]:
            if call.method in replies and call.ok:
                return call
        if len(sim.web.responses) > responses_before:
            body = sim.web.responses[responses_before]
            return ApiCall(body["at"], "response_url", body, True, None)
        time.sleep(0.01)
    made = [c.method for c in sim.web.calls[calls_before:]] or "no Web API calls"
    raise AssertionError(f"no reply to {item.label!r} within {timeout:g} s (the app made {made})")


def send_and_wait_for_answer(sim: Simulator, item: ScenarioItem, *, timeout: float = 10.0) -> dict[str, Any]:
    """Deliver ``item`` (a slash command, ``block_suggestion``…; see :func:`payload`) and return the
    answer the app put in its ack, as the simulator recorded it (an entry of ``sim.truth.responses``).

    ``answer["response"]`` is the payload as sent; ``answer["effect"]`` what Slack did with it
    (``in_channel``, ``ephemeral``, ``options``, ``errors``…), ``answer["error"]`` why it was ignored.
    Raises ``AssertionError`` if the app acked without a payload, or nothing came within ``timeout``.
    """
    key, type_ = _key(item), answer_type(item.kind, item.payload)
    answers_before, deliveries_before = len(sim.truth.responses), len(sim.truth.deliveries)
    sim.add([replace(item, at=0.0)])
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        truth = sim.truth
        for answer in truth.responses[answers_before:]:
            if answer["type"] == type_ and (key is None or answer["event_key"] == key):
                return dict(answer)
        mine = [d for d in truth.deliveries[deliveries_before:] if key is None or d["event_key"] == key]
        if any(d["acked_at"] is not None and d["kind"] == item.kind for d in mine):
            raise AssertionError(f"{item.label!r} was acked without a response payload")
        time.sleep(0.01)
    raise AssertionError(f"no answer to {item.label!r} within {timeout:g} s")


def assert_acked_within(sim: Simulator, item: ScenarioItem, seconds: float, *, timeout: float = 10.0) -> float:
    """Assert the app acked ``item``'s first delivery within ``seconds``; returns the ack time in seconds.

    Waits up to ``timeout`` for the ack. Slack retries an events_api delivery not acked
    within 3 seconds, so ``assert_acked_within(sim, item, 3)`` is the contract.
    """
    key = _key(item)
    deadline = time.monotonic() + timeout
    first: dict[str, Any] | None = None
    while time.monotonic() < deadline:
        found = [d for d in sim.truth.deliveries if d["event_key"] == key] if key else []
        if found and found[0]["acked_at"] is not None:
            first = found[0]
            break
        time.sleep(0.01)
    if first is None:
        raise AssertionError(f"{item.label!r} was not acked within {timeout:g} s")
    took = float(first["acked_at"] - first["sent_at"])
    assert took <= seconds, f"{item.label!r} acked after {took:.3f} s, more than {seconds:g} s"
    return took
