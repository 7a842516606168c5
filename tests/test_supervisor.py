"""The pure connection supervisor: every rule driven directly, then random event sequences (no sockets)."""

from __future__ import annotations

import random
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from slacklab.supervisor import (
    ApiAnswered,
    ApiFailed,
    ApiUnreachable,
    CancelOpen,
    Close,
    Closed,
    Command,
    Connect,
    Connected,
    ConnectFailed,
    DisconnectReceived,
    Event,
    Fatal,
    Finish,
    HelloReceived,
    Note,
    OpenConnection,
    Phase,
    PingTimeout,
    SetStatus,
    Start,
    Status,
    StopRequested,
    Supervisor,
    TimerFired,
)


def sup(**kwargs: object) -> Supervisor:
    return Supervisor(uniform=lambda: 0.0, api_host="slack.test", **kwargs)  # type: ignore[arg-type]


def of(kind: type, commands: list[Command]) -> list[Command]:
    return [c for c in commands if isinstance(c, kind)]


def live(s: Supervisor, now: float = 0.0) -> str:
    """Start and bring the first connection up; returns its id."""
    (open_,) = of(OpenConnection, s.handle(now, Start()))
    assert s.handle(now, ApiAnswered(open_.conn, "wss://x/link")) == [Connect(open_.conn, "wss://x/link")]
    assert s.handle(now, Connected(open_.conn)) == []
    s.handle(now, HelloReceived(open_.conn, 1))
    assert s.conns[open_.conn].phase is Phase.LIVE
    return open_.conn


def bring_up(s: Supervisor, conn: str, now: float) -> list[Command]:
    out = s.handle(now, ApiAnswered(conn, "wss://x/link"))
    out += s.handle(now, Connected(conn))
    out += s.handle(now, HelloReceived(conn, 2))
    return out


# ------------------------------------------------------------ table of rules


def test_start_opens_one_connection_and_hello_means_listening() -> None:
    s = sup()
    out = s.handle(0.0, Start())
    assert out == [SetStatus(Status.CONNECTING, "connecting to slack.test"), OpenConnection("c1")]
    s.handle(0.1, ApiAnswered("c1", "wss://x"))
    s.handle(0.2, Connected("c1"))
    assert s.handle(0.3, HelloReceived("c1", 1)) == [SetStatus(Status.LISTENING, "listening on c1")]
    assert s.wake_at is None


@pytest.mark.parametrize("first", ["warning", "some_new_reason"])
def test_a_warned_connection_is_drained_until_refresh_requested(first: str) -> None:
    s = sup(drain_timeout=5.0)
    old = live(s)
    out = s.handle(10.0, DisconnectReceived(old, first))
    assert out == [OpenConnection("c2")]  # at once, no backoff
    assert s.conns[old].phase is Phase.RETIRING
    out = bring_up(s, "c2", 10.2)
    assert of(Close, out) == []  # the replacement said hello: the old one is still read and acked
    assert s.wake_at == 15.0
    assert of(Close, s.handle(15.0, TimerFired({old: 14.0}))) == []  # frames keep coming: not drained
    assert s.wake_at == 19.0
    out = s.handle(16.0, DisconnectReceived(old, "refresh_requested"))  # one replacement only, and now done
    assert out == [Close(old, "drained: refresh_requested, replacement live")]
    assert s.handle(16.1, Closed(old, 1000)) == []
    assert s.count() == 1 and s.status is Status.LISTENING and s.reconnects == 1


def test_refresh_requested_before_the_replacement_is_live_waits_for_its_hello() -> None:
    s = sup()
    old = live(s)
    assert s.handle(1.0, DisconnectReceived(old, "refresh_requested")) == [OpenConnection("c2")]
    assert s.handle(1.1, ApiAnswered("c2", "wss://x")) == [Connect("c2", "wss://x")]
    assert s.handle(1.2, Connected("c2")) == []
    out = s.handle(1.3, HelloReceived("c2", 2))
    assert out == [
        SetStatus(Status.LISTENING, "listening on c2"),
        Close(old, "drained: refresh_requested, replacement live"),
    ]


def test_a_warned_connection_that_never_gets_refresh_requested_drains_when_quiet() -> None:
    s = sup(drain_timeout=5.0)
    old = live(s)
    s.handle(10.0, DisconnectReceived(old, "warning"))
    bring_up(s, "c2", 10.2)
    assert of(Close, s.handle(15.0, TimerFired({old: 14.0}))) == []
    assert s.handle(19.0, TimerFired({old: 14.0})) == [Close(old, "drained: quiet for 5 s after a warning")]


def test_slack_closing_the_retiring_connection_itself_needs_nothing_from_us() -> None:
    s = sup()
    old = live(s)
    s.handle(1.0, DisconnectReceived(old, "warning"))
    bring_up(s, "c2", 1.1)
    s.handle(2.0, DisconnectReceived(old, "refresh_requested"))
    assert s.handle(3.0, Closed(old, 1000)) == []
    assert s.wake_at is None and s.reconnects == 1


def test_a_retiring_connection_is_kept_while_its_replacement_fails() -> None:
    s = sup(drain_timeout=1.0)
    old = live(s)
    s.handle(1.0, DisconnectReceived(old, "warning"))
    out = s.handle(1.1, ApiUnreachable("c2", "ConnectionRefusedError"))
    assert of(OpenConnection, out) == [] and of(Close, out) == []
    assert s.wake_at is not None and s.wake_at > 1.1  # backoff before the next try
    out = s.handle(100.0, TimerFired({old: 1.0}))  # long quiet, but nothing else is live
    assert of(Close, out) == [] and out == [OpenConnection("c3")]


def test_too_many_websockets_closes_first_then_backs_off() -> None:
    s = sup()
    conn = live(s)
    out = s.handle(1.0, DisconnectReceived(conn, "too_many_websockets"))
    assert out[0] == Close(conn, "too_many_websockets")
    assert of(OpenConnection, out) == []
    assert s.wake_at == pytest.approx(1.25)  # first backoff: 0.5 s × jitter 0.5
    s.handle(1.1, Closed(conn, 1000))
    assert of(OpenConnection, s.handle(1.25, TimerFired())) == [OpenConnection("c2")]


def test_link_disabled_stops_in_plain_words() -> None:
    s = sup()
    conn = live(s)
    out = s.handle(1.0, DisconnectReceived(conn, "link_disabled"))
    assert out == [Close(conn, "listener stopped")]
    out = s.handle(1.1, Closed(conn, 1000))
    assert len(out) == 1 and isinstance(out[0], Finish) and out[0].status is Status.STOPPED
    assert "Socket Mode was turned off" in out[0].explanation
    assert s.finished


def test_a_lost_connection_reconnects_with_backoff_that_grows_and_resets_on_hello() -> None:
    s = sup()
    conn = live(s)
    out = s.handle(5.0, Closed(conn, 1006, why="dropped without a close frame"))
    assert s.status is Status.RECONNECTING and "dropped without a close frame" in s.detail
    assert of(OpenConnection, out) == [] and s.wake_at == pytest.approx(5.25)
    out = s.handle(5.25, TimerFired())
    assert of(OpenConnection, out) == [OpenConnection("c2")]
    s.handle(5.3, ApiUnreachable("c2", "ConnectionRefusedError"))
    assert s.wake_at == pytest.approx(5.8)  # 1 s × 0.5
    assert "cannot reach the Web API at slack.test: ConnectionRefusedError" in s.detail
    s.handle(5.8, TimerFired())
    bring_up(s, "c3", 6.0)
    s.handle(7.0, Closed("c3", 1011))
    assert s.wake_at == pytest.approx(7.25)  # reset by the hello


def test_ratelimited_waits_retry_after_and_fatal_errors_stop() -> None:
    s = sup()
    s.handle(0.0, Start())
    s.handle(0.1, ApiFailed("c1", "ratelimited", retry_after=7.0))
    assert s.wake_at == pytest.approx(7.1)
    s.handle(7.1, TimerFired())
    out = s.handle(7.2, ApiFailed("c2", "invalid_auth"))
    assert SetStatus(Status.FAILED, out[0].detail) == out[0]  # type: ignore[union-attr]
    assert "invalid_auth" in s.detail
    assert isinstance(out[-1], Finish) and out[-1].status is Status.FAILED


def test_give_up_after_stops_as_failed_naming_the_last_error() -> None:
    s = sup(give_up_after=30.0)
    s.handle(0.0, Start())
    s.handle(0.1, ApiUnreachable("c1", "ConnectionRefusedError"))
    assert "cannot reach the Web API at slack.test: ConnectionRefusedError" in s.detail
    assert s.status is Status.RECONNECTING
    t = 0.1
    while not s.finished:
        t = s.wake_at  # type: ignore[assignment]
        out = s.handle(t, TimerFired())
        for c in of(OpenConnection, out):
            s.handle(t, ApiUnreachable(c.conn, "ConnectionRefusedError"))  # type: ignore[union-attr]
    assert t == pytest.approx(30.0)
    assert s.status is Status.FAILED
    assert s.detail == (
        "gave up after 30 s without a working connection: cannot reach the Web API at slack.test: "
        "ConnectionRefusedError"
    )


def test_give_up_counts_from_the_last_working_connection() -> None:
    s = sup(give_up_after=10.0)
    conn = live(s, now=0.0)
    assert s.wake_at is None
    s.handle(100.0, Closed(conn, 1006))
    assert s.wake_at == pytest.approx(100.25)
    t = 100.0
    while not s.finished and t < 200:
        t = s.wake_at  # type: ignore[assignment]
        for c in of(OpenConnection, s.handle(t, TimerFired())):
            s.handle(t, ConnectFailed(c.conn, "InvalidStatus: 403"))  # type: ignore[union-attr]
    assert t == pytest.approx(110.0) and s.status is Status.FAILED
    assert "WebSocket connection failed: InvalidStatus: 403" in s.detail


@pytest.mark.parametrize("where", ["api", "handshake", "awaiting_hello", "live", "retiring", "backoff"])
def test_stop_from_every_state_ends_with_nothing_open(where: str) -> None:
    s = sup()
    s.handle(0.0, Start())
    if where in ("handshake", "awaiting_hello", "live", "retiring"):
        s.handle(0.0, ApiAnswered("c1", "wss://x"))
    if where in ("awaiting_hello", "live", "retiring"):
        s.handle(0.0, Connected("c1"))
    if where in ("live", "retiring"):
        s.handle(0.0, HelloReceived("c1", 1))
    if where == "retiring":
        s.handle(0.0, DisconnectReceived("c1", "warning"))
    if where == "backoff":
        s.handle(0.0, ApiUnreachable("c1", "timeout"))
    out = s.handle(1.0, StopRequested())
    if where in ("api", "handshake"):
        assert of(CancelOpen, out) == [CancelOpen("c1")]
        assert isinstance(out[-1], Finish)
    elif where == "backoff":
        assert out == [Finish(Status.STOPPED, "stopped by the user")]
    else:
        expected = [Close("c1", "listener stopped")] + ([CancelOpen("c2")] if where == "retiring" else [])
        assert out == expected
        assert s.handle(1.1, Closed("c1")) == [Finish(Status.STOPPED, "stopped by the user")]
    assert s.finished and s.conns == {} and s.wake_at is None
    assert s.handle(2.0, Connected("c1")) == [Close("c1", "listener stopped")]  # a late handshake


def test_a_handshake_that_wins_the_race_with_stop_is_closed_before_finishing() -> None:
    s = sup()
    s.handle(0.0, Start())
    s.handle(0.0, ApiAnswered("c1", "wss://x"))
    assert s.handle(1.0, StopRequested()) == [CancelOpen("c1"), Finish(Status.STOPPED, "stopped by the user")]
    s2 = sup()
    conn = live(s2)
    s2.handle(1.0, DisconnectReceived(conn, "warning"))
    s2.handle(1.0, ApiAnswered("c2", "wss://x"))
    s2.handle(2.0, StopRequested())
    assert s2.handle(2.1, Connected("c2")) == [Close("c2", "not needed any more")]
    assert s2.handle(2.2, Closed(conn)) == []
    assert s2.handle(2.3, Closed("c2")) == [Finish(Status.STOPPED, "stopped by the user")]


def test_another_consumer_is_noted_once_and_our_own_overlap_is_not() -> None:
    s = sup()
    conn = live(s)
    s.handle(1.0, DisconnectReceived(conn, "warning"))
    out = bring_up(s, "c2", 1.1)  # hello says 2: the old one and this one, both ours
    assert of(Note, out) == []
    s.handle(2.0, Closed(conn))
    s.handle(3.0, DisconnectReceived("c2", "warning"))
    s.handle(3.0, ApiAnswered("c3", "wss://x"))
    s.handle(3.0, Connected("c3"))
    out = s.handle(3.1, HelloReceived("c3", 4))
    assert len(of(Note, out)) == 1 and "another consumer" in out[-1].text  # type: ignore[union-attr]
    s.handle(4.0, DisconnectReceived("c3", "warning"))
    assert of(Note, bring_up(s, "c4", 4.1)) == []  # said once


def test_journal_failure_is_fatal_and_a_ping_timeout_is_a_lost_connection() -> None:
    s = sup()
    conn = live(s)
    out = s.handle(1.0, PingTimeout(conn))
    assert out[0] == Close(conn, "no pong in time") and s.wake_at == pytest.approx(1.25)
    s2 = sup()
    conn = live(s2)
    out = s2.handle(1.0, Fatal("cannot write the journal"))
    assert out == [SetStatus(Status.FAILED, "cannot write the journal"), Close(conn, "listener stopped")]
    assert s2.handle(1.1, Closed(conn)) == [Finish(Status.FAILED, "cannot write the journal")]


def test_never_more_than_the_limit() -> None:
    s = sup(limit=2, drain_timeout=100.0)
    first = live(s)
    s.handle(1.0, DisconnectReceived(first, "warning"))
    bring_up(s, "c2", 1.0)
    out = s.handle(2.0, DisconnectReceived("c2", "warning"))  # two retiring, no room for a third
    assert of(OpenConnection, out) == [] and s.reconnect_pending and s.wake_at is None
    out = s.handle(3.0, Closed(first, 1000))
    assert out == [OpenConnection("c3")]


# ------------------------------------------------------------ random sequences

REASONS = ["warning"] * 4 + ["refresh_requested"] * 4 + ["too_many_websockets", "made_up", "link_disabled"]


@dataclass(frozen=True)
class FrameOn:
    """Not an event for the supervisor: an envelope arrived on ``conn`` (it is not quiet)."""

    conn: str


def step_events(s: Supervisor, urls_given: set[str], draw: random.Random) -> list[Event | FrameOn]:
    """What could happen next, given what the supervisor asked for (successes more often than failures)."""
    events: list[Event | FrameOn] = [TimerFired()] * 4
    for conn in s.conns.values():
        c = conn.id
        if conn.phase is Phase.OPENING and c in urls_given:
            events += [Connected(c)] * 6 + [ConnectFailed(c, "refused")]
        elif conn.phase is Phase.OPENING:
            events += [ApiAnswered(c, "wss://x")] * 6
            events += [ApiFailed(c, draw.choice(["internal_error", "ratelimited"])), ApiUnreachable(c, "timeout")]
        elif conn.phase is Phase.CLOSING:
            events += [Closed(c, 1000)] * 2
        elif conn.phase is Phase.AWAITING_HELLO:
            events += [HelloReceived(c, draw.randint(1, 3))] * 6 + [DisconnectReceived(c, draw.choice(REASONS))]
            events.append(Closed(c, 1006))
        else:
            events += [FrameOn(c)] * 4 + [DisconnectReceived(c, draw.choice(REASONS))] * 2
            events += [draw.choice([Closed(c, 1006), PingTimeout(c), HelloReceived(c, 1)])]
    return events


@settings(max_examples=500, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), steps=st.integers(1, 120), limit=st.integers(1, 4))
def test_random_sequences_keep_the_invariants(seed: int, steps: int, limit: int) -> None:
    draw = random.Random(seed)
    s = Supervisor(uniform=draw.random, limit=limit, drain_timeout=2.0, give_up_after=draw.choice([None, 60.0]))
    now = 0.0
    quiet_since: dict[str, float] = {}
    refresh_requested: set[str] = set()
    urls_given: set[str] = set()
    commands = s.handle(now, Start())
    stopped = False
    finishes = 0
    for _ in range(steps):
        for command in commands:
            if isinstance(command, Connect):
                urls_given.add(command.conn)
            if isinstance(command, Close) and command.why.startswith("drained"):
                # never closed by us before refresh_requested or the drain timeout, nor without a live replacement
                assert command.conn in refresh_requested or now >= quiet_since[command.conn] + 2.0
                assert s.count(Phase.LIVE) >= 1
        assert s.count() <= limit
        if s.stopping is None:
            # never without a connection on its way
            assert s.count(Phase.OPENING, Phase.AWAITING_HELLO, Phase.LIVE) > 0 or s.reconnect_pending
        if s.finished:
            break
        now += draw.choice([0.0, 0.01, 0.5, 3.0])
        if not stopped and draw.random() < 0.01:
            event: Event | FrameOn = StopRequested()
            stopped = True
        else:
            event = draw.choice(step_events(s, urls_given, draw))
        if isinstance(event, FrameOn):
            quiet_since[event.conn] = now
            commands = []
            continue
        if isinstance(event, TimerFired):
            wake = s.wake_at
            now = max(now, wake) if wake is not None else now
            event = TimerFired(dict(quiet_since))
        if isinstance(event, DisconnectReceived):
            quiet_since[event.conn] = now
            if event.reason == "refresh_requested":
                refresh_requested.add(event.conn)
        commands = s.handle(now, event)
        finishes += sum(isinstance(c, Finish) for c in commands)
    # a stop always ends with nothing open
    if not s.finished:
        commands = s.handle(now, StopRequested())
        finishes += sum(isinstance(c, Finish) for c in commands)
        for _ in range(2 * limit + 2):
            closing = [c.id for c in s.conns.values() if c.phase is Phase.CLOSING]
            if not closing:
                break
            commands = s.handle(now, Closed(closing[0]))
            finishes += sum(isinstance(c, Finish) for c in commands)
    assert s.finished and s.conns == {} and s.wake_at is None
    assert finishes == 1  # exactly one Finish, always after everything closed
