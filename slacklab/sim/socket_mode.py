"""The simulator's WebSocket side: Socket Mode connections (hello, envelopes, acks, disconnects, faults).

:class:`SocketServer` serves ``ws://127.0.0.1:PORT/link/?ticket=…`` and decides
how each connection behaves; the :class:`~slacklab.sim.server.Simulator` owns it,
runs it on its loop thread and decides *what* to send (:meth:`SocketServer.deliver`).
Facts and observations in ``docs/slack-protocol.md`` (Socket Mode):

* The handshake needs a ticket from the Web API (:mod:`slacklab.sim.webapi`); an
  unknown or reused one is refused with HTTP 403.
* On connect: ``hello`` (``num_connections``, ``connection_info.app_id``,
  ``debug_info`` with ``host`` = ``applink-sim-<connection id>``, ``build_number``,
  ``approximate_connection_time``). More than ``max_connections`` open: a
  ``disconnect`` ``too_many_websockets`` instead of ``hello``, then a close (the
  same with ``link_disabled`` while the link is off).
* Every text frame with an ``envelope_id`` is an ack, recorded in the ledger. A
  ``payload`` in it (an answer) is checked by the ledger and, if Slack would use it,
  played by the workspace (``settings.web``, :meth:`SlackState.answer
  <slacklab.sim.webapi_methods.SlackState.answer>`); events it causes go to ``settings.add``.
* Routine refreshes when ``refresh_interval`` (simulated seconds) is set, or
  360 s when the client adds ``&debug_reconnects=true``: ``disconnect``
  ``warning`` ``refresh_warning`` s before, then ``refresh_requested`` (no more
  deliveries there), then a close after ``refresh_grace`` s if the client has not
  closed. With ``speed`` infinite these durations are wall seconds.
* Faults on open connections (loop thread only; ``conn=None`` means all of them,
  each returns the ids it touched): :meth:`~SocketServer.drop`,
  :meth:`~SocketServer.go_silent`, :meth:`~SocketServer.send_malformed`,
  :meth:`~SocketServer.disconnect`, :meth:`~SocketServer.set_link`.

Shared state changes under the simulator's lock (``cond``) and every connection
event is reported to its :class:`~slacklab.sim.ledger.DeliveryLedger`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from slacklab.sim.answers import NO_RESPONSE
from slacklab.sim.ledger import AckRecord, DeliveryLedger
from slacklab.sim.webapi_methods import SlackState
from slacklab.sim.workspace import ScenarioItem

__all__ = ["BUILD_NUMBER", "DEBUG_RECONNECTS_INTERVAL", "ConnectionInfo", "SocketServer", "SocketSettings"]

log = logging.getLogger("slacklab.sim.server")  # records go to the simulator's log

BUILD_NUMBER = 42
DEBUG_RECONNECTS_INTERVAL = 360.0
_DEFAULT_CONNECTION_TIME = 18060


@dataclass(frozen=True, slots=True)
class ConnectionInfo:
    """A snapshot of one WebSocket connection as the simulator sees it (times: epoch seconds)."""

    id: str
    state: str
    """``open`` (eligible for deliveries or not yet greeted), ``retiring`` (disconnect sent) or ``closed``."""
    hello_sent: bool
    opened_at: float
    closed_at: float | None
    deliveries: int
    acks: int
    silent: bool
    debug_reconnects: bool
    disconnect_reason: str | None

    @property
    def open(self) -> bool:
        return self.state != "closed"


_CLOSE = object()  # outbox marker: close the WebSocket after the frames queued before it


def _discard(data: bytes) -> None:
    """``data_received`` of a silent connection: read nothing, answer nothing."""


@dataclass(eq=False)
class _Conn:
    id: str
    ws: ServerConnection
    opened_at: float
    debug_reconnects: bool
    state: str = "open"
    hello_sent: bool = False
    silent: bool = False
    closed_at: float | None = None
    deliveries: int = 0
    acks: int = 0
    disconnect_reason: str | None = None
    outbox: asyncio.Queue[Any] = field(default_factory=asyncio.Queue)
    timers: list[asyncio.TimerHandle] = field(default_factory=list)


class SocketSettings(Protocol):
    """What the WebSocket side reads from its simulator, each time it needs it."""

    app_id: str
    speed: float
    max_connections: int
    refresh_interval: float | None
    refresh_warning: float
    refresh_grace: float
    ping_interval: float | None
    web: SlackState

    def add(self, items: list[ScenarioItem]) -> int: ...


class SocketServer:
    """Socket Mode's WebSocket endpoint for one simulator (see the module docstring).

    ``settings`` is the simulator; ``ledger`` and ``cond`` are the simulator's (its
    lock also guards :attr:`stats`); ``redeem`` uses up a ticket; ``on_hello`` runs
    under the lock after each ``hello``; ``kick`` wakes the simulator's scheduler.
    """

    def __init__(
        self,
        settings: SocketSettings,
        *,
        ledger: DeliveryLedger,
        cond: threading.Condition,
        redeem: Callable[[str], bool | None],
        on_hello: Callable[[], None],
        kick: Callable[[], None],
    ) -> None:
        self._settings = settings
        self._ledger, self._cond = ledger, cond
        self.stats = dict.fromkeys(("refused_handshakes", "connections", "disconnects_sent", "malformed_sent"), 0)
        self._redeem, self._on_hello, self._kick = redeem, on_hello, kick
        self._conns: dict[str, _Conn] = {}
        self._conn_serial = 0
        self._handshakes: weakref.WeakKeyDictionary[ServerConnection, bool] = weakref.WeakKeyDictionary()
        self._link_disabled = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: Server | None = None

    async def start(self) -> int:
        """Listen on 127.0.0.1 (a free port) on the running loop; returns the port."""
        self._loop = asyncio.get_running_loop()
        self._server = await serve(
            self._handle_ws,
            "127.0.0.1",
            0,
            process_request=self._check_ticket,
            compression=None,
            ping_interval=self._settings.ping_interval,
            ping_timeout=self._settings.ping_interval,
            close_timeout=2.0,
            server_header="slacklab-simulator",
            logger=logging.getLogger("slacklab.sim.server.ws"),
        )
        return int(next(iter(self._server.sockets)).getsockname()[1])

    def shutdown(self) -> None:
        """Cancel every connection's timers and abort the silent ones (loop thread, before :meth:`aclose`)."""
        with self._cond:
            conns = [c for c in self._conns.values() if c.state != "closed"]
        for conn in conns:
            for timer in conn.timers:
                timer.cancel()
            if conn.silent:
                conn.ws.transport.abort()

    async def aclose(self) -> None:
        """Close the server and its connections (waits up to 5 s)."""
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 5)

    # ---------------------------------------------------------- simulator

    def deliver(self, conn_id: str, text: str) -> None:
        """Queue an envelope on connection ``conn_id`` (the caller holds the lock)."""
        conn = self._conns[conn_id]
        conn.deliveries += 1
        conn.outbox.put_nowait(text)

    def connections(self, clock_offset: float) -> list[ConnectionInfo]:
        """Every connection so far, oldest first (monotonic times + ``clock_offset``)."""
        with self._cond:
            return [
                ConnectionInfo(
                    id=c.id,
                    state=c.state,
                    hello_sent=c.hello_sent,
                    opened_at=c.opened_at + clock_offset,
                    closed_at=None if c.closed_at is None else c.closed_at + clock_offset,
                    deliveries=c.deliveries,
                    acks=c.acks,
                    silent=c.silent,
                    debug_reconnects=c.debug_reconnects,
                    disconnect_reason=c.disconnect_reason,
                )
                for c in self._conns.values()
            ]

    def counts(self) -> tuple[int, int, int]:
        """``(greeted and open, not closed, all so far)`` connections (the caller holds the lock)."""
        conns = self._conns.values()
        return (
            sum(1 for c in conns if c.hello_sent and c.state == "open"),
            sum(1 for c in conns if c.state != "closed"),
            len(conns),
        )

    # ---------------------------------------------------------- WebSocket

    def _check_ticket(self, connection: ServerConnection, request: Request) -> Response | None:
        url = urlsplit(request.path)
        if url.path.rstrip("/") != "/link":
            return connection.respond(HTTPStatus.NOT_FOUND, "Not found: the Socket Mode endpoint is /link/\n")
        query = parse_qs(url.query)
        ticket = (query.get("ticket") or [""])[0]
        with self._cond:
            known = self._redeem(ticket)
            if known is None:
                self.stats["refused_handshakes"] += 1
        if known is None:
            log.info("refused a WebSocket handshake: unknown or already used ticket")
            return connection.respond(HTTPStatus.FORBIDDEN, "invalid_ticket: unknown or already used\n")
        debug = (query.get("debug_reconnects") or [""])[0].lower() in ("true", "1")
        self._handshakes[connection] = debug or known
        return None

    def _hello(self, conn: _Conn, open_count: int, interval: float | None) -> str:
        return json.dumps(
            {
                "type": "hello",
                "num_connections": open_count,
                "debug_info": {
                    "host": f"applink-sim-{conn.id}",
                    "build_number": BUILD_NUMBER,
                    "approximate_connection_time": int(interval) if interval else _DEFAULT_CONNECTION_TIME,
                },
                "connection_info": {"app_id": self._settings.app_id},
            }
        )

    async def _handle_ws(self, ws: ServerConnection) -> None:
        now = time.monotonic()
        with self._cond:
            self._conn_serial += 1
            self.stats["connections"] += 1
            conn = _Conn(f"s{self._conn_serial}", ws, now, self._handshakes.pop(ws, False))
            self._conns[conn.id] = conn
            self._ledger.add_connection(conn.id, now)
            open_count = sum(1 for c in self._conns.values() if c.state != "closed")
            refusal = (
                "link_disabled"
                if self._link_disabled
                else "too_many_websockets"
                if open_count > self._settings.max_connections
                else None
            )
        writer = asyncio.create_task(self._writer(conn))
        try:
            if refusal is not None:
                log.info("connection %s refused with disconnect %s", conn.id, refusal)
                self._disconnect(conn, refusal)
            else:
                interval = self._settings.refresh_interval
                if conn.debug_reconnects:
                    interval = min(interval or DEBUG_RECONNECTS_INTERVAL, DEBUG_RECONNECTS_INTERVAL)
                # hello goes first in the outbox, and the connection becomes eligible
                # in the same step, so no envelope can overtake it.
                conn.outbox.put_nowait(self._hello(conn, open_count, interval))
                with self._cond:
                    conn.hello_sent = True
                    self._ledger.hello_sent(conn.id, now)
                    self._on_hello()
                    self._cond.notify_all()
                log.info("connection %s open (%d open), hello sent", conn.id, open_count)
                if interval is not None:
                    self._schedule_refresh(conn, interval)
                self._kick()
            async for message in ws:
                self._on_message(conn, message)
        except ConnectionClosed:
            pass
        finally:
            with self._cond:
                conn.state, conn.closed_at = "closed", time.monotonic()
                self._ledger.close(conn.id, conn.closed_at)
                self._cond.notify_all()
            for timer in conn.timers:
                timer.cancel()
            writer.cancel()
            log.info("connection %s closed (code %s)", conn.id, ws.close_code)
            self._kick()

    async def _writer(self, conn: _Conn) -> None:
        """Write queued frames in order; a ``_CLOSE`` marker closes the socket after them."""
        with contextlib.suppress(ConnectionClosed):
            while True:
                frame = await conn.outbox.get()
                if frame is _CLOSE:
                    await conn.ws.close()
                    return
                if not conn.silent:
                    await conn.ws.send(frame)

    def _on_message(self, conn: _Conn, message: str | bytes) -> None:
        if conn.silent or not isinstance(message, str):
            return
        try:
            data = json.loads(message)
        except ValueError:
            log.debug("connection %s sent non-JSON text; ignored", conn.id)
            return
        envelope_id = data.get("envelope_id") if isinstance(data, dict) else None
        if not isinstance(envelope_id, str):
            return
        response = data.get("payload", NO_RESPONSE)
        with self._cond:
            record = self._ledger.ack(envelope_id, time.monotonic(), connection=conn.id)
            conn.acks += 1
            if response is not NO_RESPONSE and response != {}:  # {}: no answer (some SDKs always send it)
                self._answered(record, response)
        if not record.known or record.duplicate or record.late:
            log.debug(
                "connection %s ack %s: known=%s duplicate=%s late=%s",
                conn.id,
                envelope_id,
                record.known,
                record.duplicate,
                record.late,
            )
        self._kick()

    def _answered(self, record: AckRecord, response: Any) -> None:
        """An ack carried a payload: check it, play it in the workspace, record it (lock held)."""
        error, effect, request = (
            self._ledger.response_problem(record, response),
            None,
            self._ledger.request(record.envelope_id),
        )
        if error is None and request is not None:
            answer = self._settings.web.answer(request[0], request[1], response, time.time())
            effect, error = self._settings.web.answers[-1]["effect"], self._settings.web.answers[-1]["error"]
            if answer.events:
                self._settings.add(list(answer.events))
        self._ledger.record_response(record, response, effect=effect, error=error)
        log.debug("ack %s carried an answer: effect=%s error=%s", record.envelope_id, effect, error)

    def _wall(self, simulated: float) -> float:
        """Wall seconds for a simulated duration (identity when speed is infinite)."""
        speed = self._settings.speed
        return simulated if math.isinf(speed) else simulated / speed

    def _schedule_refresh(self, conn: _Conn, interval: float) -> None:
        assert self._loop is not None
        # the warning comes refresh_warning s early, but never in the first half of
        # a short connection (else every new connection would be warned at once)
        warn_at = self._wall(max(interval - self._settings.refresh_warning, interval / 2))
        refresh_at = self._wall(interval)
        conn.timers.append(self._loop.call_later(warn_at, self._disconnect, conn, "warning"))
        conn.timers.append(self._loop.call_later(refresh_at, self._disconnect, conn, "refresh_requested"))

    def _disconnect(self, conn: _Conn, reason: str) -> bool:
        """Send ``disconnect`` ``reason`` (loop thread). Unless it is a ``warning``, stop
        delivering there and close: at once for ``too_many_websockets``/``link_disabled``,
        else after the grace period if the client has not closed first."""
        if conn.state == "closed" or (reason == "warning" and conn.state == "retiring"):
            return False
        frame = {"type": "disconnect", "reason": reason, "debug_info": {"host": f"applink-sim-{conn.id}"}}
        conn.outbox.put_nowait(json.dumps(frame))
        with self._cond:
            conn.disconnect_reason = reason
            self.stats["disconnects_sent"] += 1
            if reason != "warning":
                conn.state = "retiring"
                self._ledger.retire(conn.id, time.monotonic())
        log.info("connection %s: sent disconnect %s", conn.id, reason)
        if reason in ("too_many_websockets", "link_disabled"):
            conn.outbox.put_nowait(_CLOSE)
        elif reason != "warning":
            assert self._loop is not None
            grace = max(0.5, self._wall(self._settings.refresh_grace))
            conn.timers.append(self._loop.call_later(grace, conn.outbox.put_nowait, _CLOSE))
        return True

    # ---------------------------------------------------------- faults (loop thread)

    def _targets(self, conn: str | None) -> list[_Conn]:
        with self._cond:
            if conn is None:
                return [c for c in self._conns.values() if c.state != "closed"]
            found = self._conns.get(conn)
            if found is None:
                raise KeyError(f"no connection {conn!r}; see sim.connections")
            return [found] if found.state != "closed" else []

    def drop(self, conn: str | None) -> list[str]:
        """Abort the TCP connection without a close frame."""
        targets = self._targets(conn)
        for c in targets:
            c.ws.transport.abort()
            log.info("connection %s dropped (no close frame)", c.id)
        return [c.id for c in targets]

    def go_silent(self, conn: str | None, for_seconds: float | None) -> list[str]:
        """Stop reading, writing and pinging; abort after ``for_seconds`` if given."""
        assert self._loop is not None
        targets = self._targets(conn)
        for c in targets:
            c.silent = True
            # Discard incoming data before websockets parses it (no pong, no acks)
            # rather than pausing the transport, which would also hide the
            # client's close and keep a dead connection eligible.
            c.ws.data_received = _discard  # type: ignore[method-assign]
            if c.ws.keepalive_task is not None:
                c.ws.keepalive_task.cancel()
            if for_seconds is not None:
                c.timers.append(self._loop.call_later(for_seconds, c.ws.transport.abort))
            log.info("connection %s went silent", c.id)
        return [c.id for c in targets]

    def send_malformed(self, text: str, conn: str | None) -> list[str]:
        """Queue ``text`` as it is (not a valid frame)."""
        targets = self._targets(conn)
        for c in targets:
            c.outbox.put_nowait(text)
        with self._cond:
            self.stats["malformed_sent"] += len(targets)
        return [c.id for c in targets]

    def disconnect(self, reason: str, conn: str | None) -> list[str]:
        """Send ``disconnect`` ``reason`` (see :meth:`_disconnect` for what follows)."""
        return [c.id for c in self._targets(conn) if self._disconnect(c, reason)]

    def set_link(self, *, enabled: bool) -> None:
        """Socket Mode on or off for new connections (thread-safe): off, they get ``link_disabled``."""
        with self._cond:
            self._link_disabled = not enabled
