"""The connection supervisor: which Socket Mode connections to open, keep, drain and close. Pure.

:class:`Supervisor` is fed :data:`Event` values (a ``hello`` on ``c2``, a
``disconnect`` reason, a socket that closed, what ``apps.connections.open``
answered, a timer that fired, a stop request), each with ``now`` from a
monotonic clock, and returns the :data:`Command` values to carry out (open a
connection, connect a WebSocket, close one, change the capture's state, stop).
The events and commands are in :mod:`slacklab.supervision` (re-exported here).
It touches no socket, thread, clock or random generator: the jitter comes in as
a ``uniform()`` function, time as ``now``. The listener (:mod:`slacklab.listener`)
is the thin shell that does the I/O; the tests drive every rule directly.

The rules (facts behind them: ``docs/slack-protocol.md``):

* one connection is kept *live*; an open attempt is ``apps.connections.open``
  (:class:`OpenConnection`) then the WebSocket handshake (:class:`Connect`);
* ``warning`` / ``refresh_requested`` (and reasons we do not know) *retire* the
  connection: a replacement is opened at once, make-before-break, and the old
  one is **drained**: still read and acked, because Slack spreads envelopes over
  every open connection and keeps using a warned one until ``refresh_requested``.
  We close it only once the replacement is live *and* Slack has sent
  ``refresh_requested`` there (it sends nothing after it, and everything sent
  before it was read and acked first: one ordered stream), or, when Slack never
  sends it, once the connection has been quiet for ``drain_timeout`` seconds.
  Closing a warned connection earlier turns its frames in flight into retries;
* ``too_many_websockets``: close that connection first, back off, reconnect;
  never more than ``limit`` (Slack: 10) connections at once;
* a socket lost (closed, no pong) or an open attempt that failed: reconnect with
  jittered exponential backoff (reset by each ``hello``), or after ``Retry-After``;
* ``link_disabled``, a fatal ``apps.connections.open`` error, a journal that
  cannot be written: stop and say why; with ``give_up_after``, so long without a
  working connection stops as ``failed`` naming the last error;
* a stop closes everything and ends with :class:`Finish` once nothing is open.

Use::

    sup = Supervisor(uniform=random.Random().random, api_host="slack.com")
    commands = sup.handle(now, Start())
    ...                          # carry them out; feed back what happens:
    commands = sup.handle(now, HelloReceived("c1", num_connections=1))
    if sup.wake_at is not None:  # feed TimerFired(...) at that time
        ...
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from slacklab.protocol import Action, backoff_delays, decide_api_error, decide_connection_lost, decide_disconnect
from slacklab.supervision import (
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
    TimerFired,
)

__all__ = [
    "MAX_CONNECTIONS",
    "ApiAnswered",
    "ApiFailed",
    "ApiUnreachable",
    "CancelOpen",
    "Close",
    "Closed",
    "Command",
    "Connect",
    "ConnectFailed",
    "Connected",
    "DisconnectReceived",
    "Event",
    "Fatal",
    "Finish",
    "HelloReceived",
    "Note",
    "OpenConnection",
    "Phase",
    "PingTimeout",
    "SetStatus",
    "Start",
    "Status",
    "StopRequested",
    "Supervisor",
    "TimerFired",
]

MAX_CONNECTIONS = 10
"""Slack allows an app at most 10 open Socket Mode connections."""


ANOTHER_CONSUMER_NOTE = (
    "Slack reports {n} open connections for this app: another consumer (often the app's own bot, "
    "or a teammate's notebook) is connected, and Slack spreads events across connections, so this "
    "capture sees only a share."
)


@dataclass(slots=True)
class _Conn:
    id: str
    phase: Phase
    since: float
    retired_at: float | None = None
    refresh_requested: bool = False
    lost: bool = False
    """Closing because it failed (too_many_websockets, no pong): reconnect with backoff after."""


class Supervisor:
    """Decides the connections of one listener. See the module docstring for the rules.

    Args:
        uniform: returns floats in [0, 1) for the backoff jitter (``random.Random(seed).random``).
        api_host: named in plain-words details ("cannot reach the Web API at ...").
        limit: connections allowed at once (Slack: 10).
        drain_timeout: seconds a warned connection (no ``refresh_requested`` yet) must
            be quiet, once its replacement is live, before we close it ourselves.
        give_up_after: seconds without a working connection after which to stop as
            ``failed`` (``None``: retry for ever).
    """

    def __init__(
        self,
        *,
        uniform: Callable[[], float],
        api_host: str = "slack.com",
        limit: int = MAX_CONNECTIONS,
        drain_timeout: float = 10.0,
        give_up_after: float | None = None,
    ) -> None:
        if limit < 1:
            raise ValueError("limit must be >= 1")
        self._uniform = uniform
        self.api_host = api_host
        self.limit = limit
        self.drain_timeout = drain_timeout
        self.give_up_after = give_up_after
        self.conns: dict[str, _Conn] = {}
        self.status = Status.CONNECTING
        self.detail = ""
        self.stopping: Finish | None = None
        """Set once a stop began: the state and explanation :class:`Finish` will carry."""
        self.finished = False
        self.reconnects = 0
        self.last_error = ""
        self._serial = 0
        self._backoff: Iterator[float] = backoff_delays(uniform)
        self._open_at: float | None = None
        self._down_since: float | None = None
        self._noted_other_consumer = False
        self._last_frame: dict[str, float] = {}

    def __repr__(self) -> str:
        phases = ", ".join(f"{c.id} {c.phase.value}" for c in self.conns.values()) or "no connections"
        return f"<Supervisor {self.status.value}: {phases}; reconnect at {self._open_at}>"

    # ------------------------------------------------------------ queries

    def count(self, *phases: Phase) -> int:
        """How many connections are in any of ``phases`` (all of them when none is given)."""
        if not phases:
            return len(self.conns)
        return sum(1 for c in self.conns.values() if c.phase in phases)

    @property
    def reconnect_pending(self) -> bool:
        """Whether a new connection is on its way (an open attempt or a scheduled one)."""
        return self._open_at is not None or self.count(Phase.OPENING) > 0

    @property
    def wake_at(self) -> float | None:
        """When to feed :class:`TimerFired` next (a backoff wait, a drain or give-up deadline), or ``None``."""
        if self.stopping is not None:
            return None
        times = []
        if self._open_at is not None and self.count() < self.limit:
            times.append(self._open_at)
        if self.count(Phase.LIVE):
            times.extend(
                self._drain_deadline(c)
                for c in self.conns.values()
                if c.phase is Phase.RETIRING and not c.refresh_requested
            )
        if self.give_up_after is not None and self._down_since is not None:
            times.append(self._down_since + self.give_up_after)
        return min(times) if times else None

    # ------------------------------------------------------------ events

    def handle(self, now: float, event: Event) -> list[Command]:
        """Feed one event that happened at ``now``; returns the commands to carry out, in order."""
        out: list[Command] = []
        if self.finished:
            if isinstance(event, Connected):  # a handshake that finished after the end: close it
                out.append(Close(event.conn, "listener stopped"))
            return out
        if isinstance(event, TimerFired):
            self._last_frame.update(event.last_frame)
        self._dispatch(now, event, out)
        self._settle(now, out, drain=isinstance(event, TimerFired))
        return out

    def _dispatch(self, now: float, event: Event, out: list[Command]) -> None:
        if isinstance(event, Start):
            self._set(out, Status.CONNECTING, f"connecting to {self.api_host}")
            self._down_since = now
            self._open(now, out)
        elif isinstance(event, StopRequested):
            self._stop(Status.STOPPED, event.explanation, out)
        elif isinstance(event, Fatal):
            self._set(out, Status.FAILED, event.explanation)
            self._stop(Status.FAILED, event.explanation, out)
        elif isinstance(event, Connected):
            conn = self.conns.get(event.conn)
            if conn is None or conn.phase is not Phase.OPENING:
                # cancelled meanwhile: the socket exists, so close it (and wait for it)
                self.conns[event.conn] = _Conn(event.conn, Phase.CLOSING, now)
                out.append(Close(event.conn, "not needed any more"))
            else:
                conn.phase, conn.since = Phase.AWAITING_HELLO, now
        elif isinstance(event, HelloReceived):
            self._on_hello(now, event, out)
        elif isinstance(event, DisconnectReceived):
            self._on_disconnect(now, event, out)
        elif isinstance(event, Closed):
            self._on_closed(now, event)
        elif isinstance(event, PingTimeout):
            conn = self.conns.get(event.conn)
            if conn is not None and conn.phase is not Phase.CLOSING and conn.phase is not Phase.OPENING:
                self._failed(f"{event.conn}: no pong from Slack in time; reconnecting with backoff")
                conn.phase, conn.lost = Phase.CLOSING, True
                out.append(Close(conn.id, "no pong in time"))
        elif isinstance(event, TimerFired):
            pass  # _settle looks at every deadline (and drains)
        else:
            self._on_open_result(now, event, out)

    def _on_open_result(
        self, now: float, event: ApiAnswered | ApiFailed | ApiUnreachable | ConnectFailed, out: list[Command]
    ) -> None:
        conn = self.conns.get(event.conn)
        if conn is None or conn.phase is not Phase.OPENING:
            return  # cancelled meanwhile
        if isinstance(event, ApiAnswered):
            out.append(Connect(conn.id, event.url))
            return
        del self.conns[conn.id]
        delay: float | None = None
        if isinstance(event, ApiFailed):
            decision = decide_api_error(event.error, event.retry_after)
            if decision.action is Action.STOP:
                self._set(out, Status.FAILED, decision.explanation)
                self._stop(Status.FAILED, decision.explanation, out)
                return
            delay = decision.delay
            why = decision.explanation
        elif isinstance(event, ApiUnreachable):
            why = f"cannot reach the Web API at {self.api_host}: {event.problem}"
        else:
            why = f"WebSocket connection failed: {event.problem}"
        self._schedule(now, delay, why)

    def _on_hello(self, now: float, event: HelloReceived, out: list[Command]) -> None:
        conn = self.conns.get(event.conn)
        if conn is None or conn.phase not in (Phase.AWAITING_HELLO, Phase.OPENING):
            return  # a repeated hello, or one on a connection we are leaving
        conn.phase, conn.since = Phase.LIVE, now
        self._backoff = backoff_delays(self._uniform)
        self._open_at = None
        self.last_error = ""
        self._set(out, Status.LISTENING, f"listening on {conn.id}")
        ours = self.count(Phase.AWAITING_HELLO, Phase.LIVE, Phase.RETIRING, Phase.CLOSING)
        n = event.num_connections
        if n is not None and n > ours and not self._noted_other_consumer:
            self._noted_other_consumer = True
            out.append(Note(ANOTHER_CONSUMER_NOTE.format(n=n)))

    def _on_disconnect(self, now: float, event: DisconnectReceived, out: list[Command]) -> None:
        conn = self.conns.get(event.conn)
        if conn is None:
            return
        decision = decide_disconnect(event.reason)
        if decision.action is Action.STOP:  # link_disabled
            self._stop(Status.STOPPED, decision.explanation, out)
            return
        if conn.phase in (Phase.CLOSING, Phase.OPENING):
            return
        if decision.action is Action.RECONNECT:  # too_many_websockets: close first, back off
            self._failed(decision.explanation)
            conn.phase, conn.lost = Phase.CLOSING, True
            out.append(Close(conn.id, decision.reason))
            return
        if event.reason == "refresh_requested":
            conn.refresh_requested = True
        if conn.phase is Phase.RETIRING:
            return  # one replacement per connection ("warning", then "refresh_requested")
        conn.phase, conn.retired_at = Phase.RETIRING, now
        self.reconnects += 1
        if not self.count(Phase.OPENING, Phase.AWAITING_HELLO, Phase.LIVE) and self._open_at is None:
            self._open_at = now  # make before break: no backoff for a routine refresh

    def _on_closed(self, now: float, event: Closed) -> None:
        conn = self.conns.pop(event.conn, None)
        self._last_frame.pop(event.conn, None)
        if conn is None or self.stopping is not None:
            return
        if conn.phase in (Phase.AWAITING_HELLO, Phase.LIVE):
            decision = decide_connection_lost(event.code, event.reason)
            self._failed(f"{conn.id}: {event.why or decision.explanation}")
            self.reconnects += 1
        elif conn.lost:
            self.reconnects += 1

    # ------------------------------------------------------------ helpers

    def _settle(self, now: float, out: list[Command], *, drain: bool) -> None:
        """After every event: finish a stop, give up, close drained connections, keep one coming."""
        healthy = self.count(Phase.LIVE, Phase.RETIRING) > 0
        if self.stopping is None:
            if healthy:
                self._down_since = None
            elif self._down_since is None:
                self._down_since = now
            if (
                self.give_up_after is not None
                and self._down_since is not None
                and now >= self._down_since + self.give_up_after
            ):
                why = self.last_error or "no hello from Slack"
                explanation = f"gave up after {self.give_up_after:g} s without a working connection: {why}"
                self._set(out, Status.FAILED, explanation)
                self._stop(Status.FAILED, explanation, out)
        if self.stopping is not None:
            if not self.conns and not self.finished:
                self.finished = True
                out.append(Finish(self.stopping.status, self.stopping.explanation))
            return
        if self.count(Phase.LIVE):
            for conn in list(self.conns.values()):
                if conn.phase is not Phase.RETIRING:
                    continue
                if conn.refresh_requested:  # nothing more will come on it, and all before was acked
                    conn.phase = Phase.CLOSING
                    out.append(Close(conn.id, "drained: refresh_requested, replacement live"))
                elif drain and now >= self._drain_deadline(conn):  # timers bring fresh last-frame times
                    conn.phase = Phase.CLOSING
                    out.append(Close(conn.id, f"drained: quiet for {self.drain_timeout:g} s after a warning"))
        if not self.count(Phase.OPENING, Phase.AWAITING_HELLO, Phase.LIVE) and self._open_at is None:
            self._schedule(now, None, self.last_error or "connection lost")
        if self._open_at is not None and now >= self._open_at and self.count() < self.limit:
            self._open(now, out)
        if not healthy and self.last_error:
            self._set(out, Status.RECONNECTING, self._waiting_detail(now))

    def _drain_deadline(self, conn: _Conn) -> float:
        assert conn.retired_at is not None
        return max(conn.retired_at, self._last_frame.get(conn.id, conn.retired_at)) + self.drain_timeout

    def _schedule(self, now: float, delay: float | None, why: str) -> None:
        """Open again after ``delay`` (``None``: the next backoff delay)."""
        self._failed(why)
        self._open_at = now + (delay if delay is not None else next(self._backoff))

    def _failed(self, why: str) -> None:
        self.last_error = why

    def _waiting_detail(self, now: float) -> str:
        if self._open_at is not None and self._open_at > now:
            return f"{self.last_error}; retrying in {self._open_at - now:.1f} s"
        return f"{self.last_error}; retrying now"

    def _open(self, now: float, out: list[Command]) -> None:
        self._open_at = None
        if self.count() >= self.limit:  # wait for room: a closing connection makes some
            self._open_at = now
            return
        self._serial += 1
        conn = _Conn(f"c{self._serial}", Phase.OPENING, now)
        self.conns[conn.id] = conn
        out.append(OpenConnection(conn.id))

    def _stop(self, status: Status, explanation: str, out: list[Command]) -> None:
        if self.stopping is not None:
            return
        self.stopping = Finish(status, explanation)
        self._open_at = None
        for conn in list(self.conns.values()):
            if conn.phase is Phase.OPENING:
                del self.conns[conn.id]
                out.append(CancelOpen(conn.id))
            elif conn.phase is not Phase.CLOSING:
                conn.phase = Phase.CLOSING
                out.append(Close(conn.id, "listener stopped"))

    def _set(self, out: list[Command], status: Status, detail: str) -> None:
        if (status, detail) != (self.status, self.detail):
            self.status, self.detail = status, detail
            out.append(SetStatus(status, detail))
