"""Slack's side of Socket Mode, offline on 127.0.0.1: Web API + WebSocket server + fault knobs.

The :class:`Simulator` plays a :class:`~slacklab.scenario.Scenario` to any
Socket Mode client (slacklab's listener, ``slack_sdk``, Bolt…) over real
loopback sockets. It runs its own asyncio loop in its own daemon thread, so it
works the same from a Jupyter cell (whose loop it never touches), a script or a
test::

    from slacklab.scenario import build_scenario
    from slacklab.simulator import Simulator

    with Simulator(build_scenario(events=50), speed=20) as sim:
        # point any client at it: SLACK_APP_TOKEN=sim.app_token, base URL sim.api_url
        ...
        sim.wait_done(timeout=30)      # every item delivered and acked (or given up)
        sim.truth.summary()            # ground truth: what was sent, acked, retried

What it does (facts and observations in ``reference/slack-protocol.md`` §2):

* ``POST {api_url}apps.connections.open`` with ``Authorization: Bearer <xapp-…>``
  returns ``{"ok": true, "url": "ws://127.0.0.1:PORT/link/?ticket=…&app_id=A0SIMAPP"}``.
  Missing token → ``not_authed``; a non-``xapp-`` token → ``not_allowed_token_type``;
  any other ``xapp-`` token → ``invalid_auth``. Tickets are single-use and never
  expire; an unknown or reused ticket is refused at the handshake with HTTP 403.
* On connect: ``hello`` (``num_connections``, ``connection_info.app_id``,
  ``debug_info`` with ``host`` = ``applink-sim-<connection id>``, ``build_number``,
  ``approximate_connection_time``). More than ``max_connections`` open: a
  ``disconnect`` ``too_many_websockets`` instead of ``hello``, then a close.
* Items go out at ``at / speed`` wall seconds after the scenario clock starts
  (at the first ``hello`` unless ``wait_for_client=False``), spread at random
  (seeded) over eligible connections; unacked envelopes are redelivered after
  ``ack_timeout`` wall seconds (see :mod:`slacklab.ledger`).
* Routine refreshes when ``refresh_interval`` (simulated seconds) is set, or
  360 s when the client adds ``&debug_reconnects=true``: ``disconnect``
  ``warning`` ``refresh_warning`` s before, then ``refresh_requested`` (no more
  deliveries there), then a close after ``refresh_grace`` s if the client has not
  closed. With ``speed=None`` these durations are wall seconds.

Fault knobs (thread-safe, usable while running; ``conn=None`` means every open
connection; each returns the ids it touched): :meth:`drop_connection`,
:meth:`go_silent`, :meth:`send_malformed`, :meth:`disconnect`,
:meth:`link_disabled` / :meth:`enable_link`, :meth:`fail_next_open`. Control:
:meth:`pause`, :meth:`resume`, :meth:`add`, :meth:`issue_url` (a ticket URL
without HTTP), :meth:`wait_done`, :meth:`wait_connections`. Inspection:
:attr:`connections`, :attr:`truth` (from :mod:`slacklab.ledger`), :attr:`stats`.
Always :meth:`close` (or use ``with``): a forgotten simulator keeps serving in
its daemon thread until the process ends.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import heapq
import http.client
import io
import json
import logging
import math
import random
import threading
import time
import uuid
import weakref
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from .ledger import DeliveryLedger, Truth
from .redact import mask_text
from .scenario import Scenario, ScenarioItem, build_scenario
from .schema import event_key, payload_fields

__all__ = ["APP_TOKEN", "ConnectionInfo", "Simulator"]

log = logging.getLogger("slacklab.simulator")

#: The simulator's app-level token: obviously fake, the same for every simulator.
APP_TOKEN = "xapp-1-A0SIMAPP-0000-SIMULATED"
BUILD_NUMBER = 42
DEBUG_RECONNECTS_INTERVAL = 360.0
_DEFAULT_CONNECTION_TIME = 18060
_T = TypeVar("_T")


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


class Simulator:
    """Slack's Socket Mode side on 127.0.0.1, with fault knobs and ground truth.

    Args:
        scenario: what to play (a :class:`Scenario` or items); default
            ``build_scenario(seed=seed)``; ``[]`` for none (use :meth:`add`).
        speed: simulated seconds per wall second; ``None`` or ``inf``: as fast as possible.
        ack_timeout: wall seconds before an unacked envelope is redelivered.
        refresh_interval: simulated seconds each connection lives before a routine
            refresh (``None``: never, unless the client asks for ``debug_reconnects``).
        max_connections: open connections allowed per app (Slack: 10).
        max_in_flight: at most this many unacked envelopes at once (closed-loop benchmarks).
        max_retries: redeliveries per event (Slack: 3).
        seed: seeds envelope ids and the choice of connection.
        wait_for_client: start the scenario clock at the first ``hello`` (default)
            rather than at :meth:`start`.
        refresh_warning, refresh_grace: simulated seconds between ``warning`` and
            ``refresh_requested``, and from there to the server closing the socket.
        ping_interval: wall seconds between the server's WebSocket pings (``None``: off).
        start: start serving now (else call :meth:`start` or use ``with``).
    """

    app_token: str = APP_TOKEN

    def __init__(
        self,
        scenario: Scenario | Iterable[ScenarioItem] | None = None,
        *,
        speed: float | None = 1.0,
        ack_timeout: float = 3.0,
        refresh_interval: float | None = None,
        max_connections: int = 10,
        max_in_flight: int | None = None,
        max_retries: int = 3,
        seed: int = 0,
        wait_for_client: bool = True,
        refresh_warning: float = 10.0,
        refresh_grace: float = 10.0,
        ping_interval: float | None = 10.0,
        start: bool = True,
    ) -> None:
        speed = math.inf if speed is None else float(speed)
        if not speed > 0:
            raise ValueError("speed must be > 0 (or None for as fast as possible)")
        if refresh_interval is not None and refresh_interval <= 0:
            raise ValueError("refresh_interval must be > 0 or None")
        if max_connections < 1:
            raise ValueError("max_connections must be >= 1")
        if scenario is None:
            scenario = build_scenario(seed=seed)
        elif not isinstance(scenario, Scenario):
            scenario = Scenario.from_items(scenario)
        self.scenario: Scenario = scenario
        self.speed = speed
        self.ack_timeout = float(ack_timeout)
        self.refresh_interval = refresh_interval
        self.max_connections = max_connections
        self.refresh_warning = refresh_warning
        self.refresh_grace = refresh_grace
        self.ping_interval = ping_interval
        self.wait_for_client = wait_for_client
        self.app_id = scenario.workspace.app_id
        self.api_port: int | None = None
        self.ws_port: int | None = None

        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._ledger = DeliveryLedger(
            ack_timeout=ack_timeout, max_retries=max_retries, seed=seed,
            rng=random.Random(seed), max_in_flight=max_in_flight,
        )
        self._pending: list[tuple[float, int, ScenarioItem]] = [(i.at, n, i) for n, i in enumerate(scenario)]
        heapq.heapify(self._pending)
        self._serial = len(self._pending)
        self._items_total = len(self._pending)
        self._released = 0
        self._conns: dict[str, _Conn] = {}
        self._conn_serial = 0
        self._tickets: dict[str, bool] = {}  # one-time ticket -> debug_reconnects (from issue_url)
        self._handshakes: weakref.WeakKeyDictionary[ServerConnection, bool] = weakref.WeakKeyDictionary()
        self._failures: deque[tuple[str, float | None, int | None]] = deque()
        self._link_disabled = False
        self._clock_start: float | None = None
        self._paused_at: float | None = None
        self._paused_total = 0.0
        self._done = len(self._pending) == 0
        self._stats = dict.fromkeys(
            ("api_calls", "api_errors", "tickets", "refused_handshakes", "connections",
             "disconnects_sent", "malformed_sent"), 0,
        )
        self._clock_offset = time.time() - time.monotonic()
        self._state = "new"
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None
        self._http_tasks: set[asyncio.Task[None]] = set()
        if start:
            self.start()

    # ------------------------------------------------------------ lifecycle

    @property
    def api_url(self) -> str:
        """Web API base URL for ``slack_sdk.WebClient(base_url=...)``; ends with ``/``."""
        return f"http://127.0.0.1:{self.api_port}/api/"

    @property
    def ws_url(self) -> str:
        """The WebSocket endpoint without a ticket (connecting needs one: :meth:`issue_url`)."""
        return f"ws://127.0.0.1:{self.ws_port}/link/"

    @property
    def running(self) -> bool:
        return self._state == "running"

    def start(self) -> Simulator:
        """Bind both servers on 127.0.0.1 (free ports) and start the loop thread. Idempotent."""
        with self._lock:
            if self._state != "new":
                if self._state == "closed":
                    raise RuntimeError("this simulator was closed; create a new one")
                return self
            self._state = "starting"
        self._thread = threading.Thread(target=self._run, name="slacklab-simulator", daemon=True)
        self._thread.start()
        self._ready.wait(timeout=10)
        if self._startup_error is not None or self.ws_port is None:
            self.close()
            raise RuntimeError(f"simulator failed to start: {self._startup_error!r}")
        with self._lock:
            self._state = "running"
            if not self.wait_for_client:
                self._clock_start = time.monotonic()
        log.info("simulator serving %s and %s", self.api_url, self.ws_url)
        self._kick()
        return self

    def close(self) -> None:
        """Stop serving, close every connection and join the thread. Idempotent."""
        with self._lock:
            state, self._state = self._state, "closed"
            self._cond.notify_all()
        if state in ("new", "closed"):
            return
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None:
            with contextlib.suppress(RuntimeError):  # loop already gone
                loop.call_soon_threadsafe(stop.set)
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=15)
            if self._thread.is_alive():
                log.warning("simulator thread did not stop within 15 s")

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # noqa: BLE001 - reported to start() or logged
            if not self._ready.is_set():
                self._startup_error = exc
            else:
                log.exception("simulator loop crashed")
        finally:
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake, self._stop = asyncio.Event(), asyncio.Event()
        # The Web API is a tiny asyncio server on this same loop rather than
        # http.server's ThreadingHTTPServer: one loop owns all state (tickets,
        # queued failures), there are no extra threads to join on close(), and
        # apps.connections.open is one small request per connection.
        api = await asyncio.start_server(self._handle_http, "127.0.0.1", 0)
        ws_server: Server | None = None
        try:
            ws_server = await serve(
                self._handle_ws, "127.0.0.1", 0,
                process_request=self._check_ticket, compression=None,
                ping_interval=self.ping_interval, ping_timeout=self.ping_interval,
                close_timeout=2.0, server_header="slacklab-simulator",
                logger=logging.getLogger("slacklab.simulator.ws"),
            )
            self.api_port = api.sockets[0].getsockname()[1]
            self.ws_port = next(iter(ws_server.sockets)).getsockname()[1]
            self._ready.set()
            scheduler = asyncio.create_task(self._scheduler())
            await self._stop.wait()
            scheduler.cancel()
            with self._lock:
                conns = [c for c in self._conns.values() if c.state != "closed"]
            for conn in conns:
                for timer in conn.timers:
                    timer.cancel()
                if conn.silent:
                    conn.ws.transport.abort()
        finally:
            if ws_server is not None:
                ws_server.close()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(ws_server.wait_closed(), 5)
            api.close()
            for task in list(self._http_tasks):
                task.cancel()
            await api.wait_closed()

    # -------------------------------------------------------------- helpers

    def _kick(self) -> None:
        """Wake the scheduler (from any thread)."""
        loop, wake = self._loop, self._wake
        if loop is None or wake is None:
            return
        if self._on_loop():
            wake.set()
        else:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(wake.set)

    def _on_loop(self) -> bool:
        return self._thread is threading.current_thread()

    def _call(self, fn: Callable[..., _T], *args: Any) -> _T:
        """Run ``fn(*args)`` on the loop thread and return its result."""
        if self._state != "running" or self._loop is None:
            raise RuntimeError("the simulator is not running")
        if self._on_loop():
            return fn(*args)
        future: concurrent.futures.Future[_T] = concurrent.futures.Future()

        def run() -> None:
            try:
                future.set_result(fn(*args))
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                future.set_exception(exc)

        self._loop.call_soon_threadsafe(run)
        return future.result(timeout=10)

    def _wall(self, simulated: float) -> float:
        """Wall seconds for a simulated duration (identity when speed is infinite)."""
        return simulated if math.isinf(self.speed) else simulated / self.speed

    def _sim_now(self, now: float) -> float:
        """Simulated seconds since the scenario clock started (locked)."""
        if self._clock_start is None:
            return 0.0
        paused = self._paused_total + (now - self._paused_at if self._paused_at is not None else 0.0)
        if math.isinf(self.speed):
            return math.inf
        return max(0.0, now - self._clock_start - paused) * self.speed

    def _targets(self, conn: str | None) -> list[_Conn]:
        with self._lock:
            if conn is None:
                return [c for c in self._conns.values() if c.state != "closed"]
            found = self._conns.get(conn)
            if found is None:
                raise KeyError(f"no connection {conn!r}; see sim.connections")
            return [found] if found.state != "closed" else []

    # ------------------------------------------------------------ scheduler

    async def _scheduler(self) -> None:
        assert self._wake is not None
        while True:
            self._wake.clear()
            delay = self._step()
            try:
                await asyncio.wait_for(self._wake.wait(), delay)
            except TimeoutError:
                pass

    def _step(self) -> float | None:
        """Release due items, expire deadlines, send; returns seconds until the next wake-up."""
        now = time.monotonic()
        with self._lock:
            running = self._paused_at is None and self._clock_start is not None
            if running:
                sim_now = self._sim_now(now)
                while self._pending and self._pending[0][0] <= sim_now:
                    _, _, item = heapq.heappop(self._pending)
                    self._submit(item, now)
            for send in self._ledger.poll(now, dispatch=self._paused_at is None):
                conn = self._conns[send.connection]
                conn.deliveries += 1
                conn.outbox.put_nowait(send.text)
            self._done = not self._pending and self._ledger.done
            self._cond.notify_all()
            delays = []
            deadline = self._ledger.next_deadline()
            if deadline is not None:
                delays.append(deadline - now)
            if running and self._pending and not math.isinf(self.speed):
                assert self._clock_start is not None
                due = self._clock_start + self._paused_total + self._pending[0][0] / self.speed
                delays.append(due - now)
        return max(0.0, min(delays)) + 0.001 if delays else None

    def _submit(self, item: ScenarioItem, now: float) -> None:
        f = payload_fields(item.kind, dict(item.payload))
        key = event_key(event_id=f.get("event_id"), team_id=f.get("team_id"), api_app_id=f.get("api_app_id"),
                        trigger_id=f.get("trigger_id"), envelope_id=None)
        self._ledger.submit(item.kind, item.payload, now, key=key, event_id=f.get("event_id"),
                            event_type=f.get("event_type"), accepts_response_payload=item.accepts_response_payload)
        self._released += 1

    # ------------------------------------------------------------ Web API

    def issue_url(self, *, debug_reconnects: bool = False) -> str:
        """A fresh one-time WebSocket URL, as ``apps.connections.open`` would return (thread-safe)."""
        ticket = str(uuid.uuid4())
        with self._lock:
            self._tickets[ticket] = debug_reconnects
            self._stats["tickets"] += 1
        url = f"{self.ws_url}?ticket={ticket}&app_id={self.app_id}"
        return url + ("&debug_reconnects=true" if debug_reconnects else "")

    def fail_next_open(self, error: str, retry_after: float | None = None, *, status: int | None = None,
                       times: int = 1) -> None:
        """Make the next ``times`` valid ``apps.connections.open`` calls fail with ``error``.

        ``ratelimited`` answers HTTP 429 with ``Retry-After`` (``retry_after``, default 1 s);
        other errors answer HTTP 200 ``{"ok": false, "error": ...}`` (``status`` overrides),
        with ``Retry-After`` only if ``retry_after`` is given.
        """
        with self._lock:
            for _ in range(times):
                self._failures.append((error, retry_after, status))

    async def _handle_http(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._http_tasks.add(task)
        try:
            try:
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
                line, _, rest = head.partition(b"\r\n")
                method, target, _version = line.decode("latin-1").split(" ", 2)
                headers = http.client.parse_headers(io.BytesIO(rest))
                if headers.get("Transfer-Encoding"):
                    raise ValueError("chunked bodies are not supported")
                length = int(headers.get("Content-Length") or 0)
                if not 0 <= length <= 1 << 20:
                    raise ValueError("bad Content-Length")
                body = await asyncio.wait_for(reader.readexactly(length), 10) if length else b""
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError, TimeoutError,
                    http.client.HTTPException):
                status, answer, extra = 400, {"ok": False, "error": "invalid_request"}, {}
            else:
                status, answer, extra = self._web_api(method, target, headers.get("Authorization", ""), body)
            data = json.dumps(answer).encode()
            lines = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}", "Content-Type: application/json; charset=utf-8",
                     f"Content-Length: {len(data)}", "Connection: close", "Server: slacklab-simulator",
                     *(f"{k}: {v}" for k, v in extra.items())]
            writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + data)
            await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
            self._http_tasks.discard(task)

    def _web_api(self, method: str, target: str, authorization: str, body: bytes
                 ) -> tuple[int, dict[str, Any], dict[str, str]]:
        path = urlsplit(target).path
        if not path.startswith("/api/"):
            return 404, {"ok": False, "error": "not_found"}, {}
        if method not in ("GET", "POST"):
            return 405, {"ok": False, "error": "method_not_supported"}, {}
        name = path[len("/api/"):]
        with self._lock:
            self._stats["api_calls"] += 1
        if name == "api.test":
            return 200, {"ok": True}, {}
        if name != "apps.connections.open":
            return 200, {"ok": False, "error": "unknown_method"}, {}
        scheme, _, token = authorization.partition(" ")
        token = token.strip() if scheme.lower() == "bearer" else ""
        if not token and b"token=" in body:
            log.info("apps.connections.open: the app token must be sent as 'Authorization: Bearer', not in the body")
        error = (
            "not_authed" if not token
            else "not_allowed_token_type" if not token.startswith("xapp-")
            else "invalid_auth" if token != self.app_token
            else None
        )
        extra: dict[str, str] = {}
        status = 200
        if error is None:
            with self._lock:
                failure = self._failures.popleft() if self._failures else None
            if failure is not None:
                error, retry_after, forced = failure
                if error == "ratelimited":
                    status, retry_after = 429, 1.0 if retry_after is None else retry_after
                if retry_after is not None:
                    extra["Retry-After"] = str(math.ceil(retry_after))
                status = forced or status
        if error is not None:
            with self._lock:
                self._stats["api_errors"] += 1
            log.info("apps.connections.open -> %s (HTTP %d)", error, status)
            return status, {"ok": False, "error": error}, extra
        url = self.issue_url()
        log.info("apps.connections.open -> %s", mask_text(url))
        return 200, {"ok": True, "url": url}, {}

    # ------------------------------------------------------------ WebSocket

    def _check_ticket(self, connection: ServerConnection, request: Request) -> Response | None:
        url = urlsplit(request.path)
        if url.path.rstrip("/") != "/link":
            return connection.respond(HTTPStatus.NOT_FOUND, "Not found: the Socket Mode endpoint is /link/\n")
        query = parse_qs(url.query)
        ticket = (query.get("ticket") or [""])[0]
        with self._lock:
            known = self._tickets.pop(ticket, None)
            if known is None:
                self._stats["refused_handshakes"] += 1
        if known is None:
            log.info("refused a WebSocket handshake: unknown or already used ticket")
            return connection.respond(HTTPStatus.FORBIDDEN, "invalid_ticket: unknown or already used\n")
        debug = (query.get("debug_reconnects") or [""])[0].lower() in ("true", "1")
        self._handshakes[connection] = debug or known
        return None

    def _hello(self, conn: _Conn, open_count: int, interval: float | None) -> str:
        return json.dumps({
            "type": "hello",
            "num_connections": open_count,
            "debug_info": {
                "host": f"applink-sim-{conn.id}",
                "build_number": BUILD_NUMBER,
                "approximate_connection_time": int(interval) if interval else _DEFAULT_CONNECTION_TIME,
            },
            "connection_info": {"app_id": self.app_id},
        })

    async def _handle_ws(self, ws: ServerConnection) -> None:
        now = time.monotonic()
        with self._lock:
            self._conn_serial += 1
            self._stats["connections"] += 1
            conn = _Conn(f"s{self._conn_serial}", ws, now, self._handshakes.pop(ws, False))
            self._conns[conn.id] = conn
            self._ledger.add_connection(conn.id, now)
            open_count = sum(1 for c in self._conns.values() if c.state != "closed")
            refusal = ("link_disabled" if self._link_disabled
                       else "too_many_websockets" if open_count > self.max_connections else None)
        writer = asyncio.create_task(self._writer(conn))
        try:
            if refusal is not None:
                log.info("connection %s refused with disconnect %s", conn.id, refusal)
                self._disconnect(conn, refusal)
            else:
                interval = self.refresh_interval
                if conn.debug_reconnects:
                    interval = min(interval or DEBUG_RECONNECTS_INTERVAL, DEBUG_RECONNECTS_INTERVAL)
                # hello goes first in the outbox, and the connection becomes eligible
                # in the same step, so no envelope can overtake it.
                conn.outbox.put_nowait(self._hello(conn, open_count, interval))
                with self._lock:
                    conn.hello_sent = True
                    self._ledger.hello_sent(conn.id, now)
                    if self._clock_start is None and self._state == "running":
                        self._clock_start = time.monotonic()
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
            with self._lock:
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
        with self._lock:
            record = self._ledger.ack(envelope_id, time.monotonic(), connection=conn.id)
            conn.acks += 1
        if not record.known or record.duplicate or record.late:
            log.debug("connection %s ack %s: known=%s duplicate=%s late=%s", conn.id, envelope_id,
                      record.known, record.duplicate, record.late)
        self._kick()

    def _schedule_refresh(self, conn: _Conn, interval: float) -> None:
        assert self._loop is not None
        # the warning comes refresh_warning s early, but never in the first half of
        # a short connection (else every new connection would be warned at once)
        warn_at = self._wall(max(interval - self.refresh_warning, interval / 2))
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
        with self._lock:
            conn.disconnect_reason = reason
            self._stats["disconnects_sent"] += 1
            if reason != "warning":
                conn.state = "retiring"
                self._ledger.retire(conn.id, time.monotonic())
        log.info("connection %s: sent disconnect %s", conn.id, reason)
        if reason in ("too_many_websockets", "link_disabled"):
            conn.outbox.put_nowait(_CLOSE)
        elif reason != "warning":
            assert self._loop is not None
            grace = max(0.5, self._wall(self.refresh_grace))
            conn.timers.append(self._loop.call_later(grace, conn.outbox.put_nowait, _CLOSE))
        return True

    # ---------------------------------------------------------- fault knobs

    def drop_connection(self, conn: str | None = None) -> list[str]:
        """Abort the TCP connection without a close frame (a network cut)."""

        def act() -> list[str]:
            targets = self._targets(conn)
            for c in targets:
                c.ws.transport.abort()
                log.info("connection %s dropped (no close frame)", c.id)
            return [c.id for c in targets]

        return self._call(act)

    def go_silent(self, conn: str | None = None, *, for_seconds: float | None = None) -> list[str]:
        """Stop reading, writing and pinging on the connection (a hung server).

        Bytes from the client are thrown away unread, so its pings get no pong and
        its acks are lost; nothing more is written (envelopes sent there vanish and
        are redelivered after their deadline). Slack's side still counts the
        connection as open until the client closes its socket (the kernel still
        notices that), :meth:`drop_connection` or :meth:`close` ends it, or
        ``for_seconds`` wall seconds pass (then the TCP connection is aborted).
        """

        def act() -> list[str]:
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

        return self._call(act)

    def send_malformed(self, text: str | None = None, conn: str | None = None) -> list[str]:
        """Send text that is not a valid frame (default: truncated JSON)."""
        text = '{"envelope_id": "sim-malformed", "type": "events_api", "payload": {' if text is None else text

        def act() -> list[str]:
            targets = self._targets(conn)
            for c in targets:
                c.outbox.put_nowait(text)
            with self._lock:
                self._stats["malformed_sent"] += len(targets)
            return [c.id for c in targets]

        return self._call(act)

    def disconnect(self, reason: str = "refresh_requested", conn: str | None = None) -> list[str]:
        """Send ``{"type": "disconnect", "reason": reason}`` (any reason, even a made-up one).

        ``warning`` only sends the frame. ``too_many_websockets`` and ``link_disabled``
        close at once. Any other reason retires the connection (no more deliveries)
        and closes it after ``refresh_grace`` unless the client closes first.
        """
        return self._call(lambda: [c.id for c in self._targets(conn) if self._disconnect(c, reason)])

    def link_disabled(self) -> list[str]:
        """Socket Mode turned off: ``disconnect`` ``link_disabled`` on every connection, then close.

        Until :meth:`enable_link`, ``apps.connections.open`` still returns URLs, but
        every new WebSocket gets ``disconnect`` ``link_disabled`` instead of ``hello``
        and is closed, so a client sees the same plain reason each time. Deliveries
        wait in the queue meanwhile.
        """
        with self._lock:
            self._link_disabled = True
        return self.disconnect("link_disabled")

    def enable_link(self) -> None:
        """Turn Socket Mode back on: new connections get ``hello`` again."""
        with self._lock:
            self._link_disabled = False

    # -------------------------------------------------------------- control

    def pause(self) -> None:
        """Stop releasing scenario items and sending envelopes; acks are still recorded.

        Ack deadlines and refresh timers keep running in wall time; envelopes that
        time out meanwhile are redelivered after :meth:`resume`."""
        with self._lock:
            if self._paused_at is None:
                self._paused_at = time.monotonic()
        self._kick()

    def resume(self) -> None:
        """Continue where :meth:`pause` stopped (the scenario clock skips the pause)."""
        with self._lock:
            if self._paused_at is not None:
                self._paused_total += time.monotonic() - self._paused_at
                self._paused_at = None
        self._kick()

    def add(self, items: Scenario | Iterable[ScenarioItem]) -> int:
        """Inject items while running; each ``at`` counts from the current simulated time
        (with ``speed=None`` they go out at once). Returns how many were added."""
        added = list(items)
        now = time.monotonic()
        with self._lock:
            base = self._sim_now(now)
            base = 0.0 if math.isinf(base) else base
            for item in added:
                self._serial += 1
                heapq.heappush(self._pending, (base + item.at, self._serial, item))
            self._items_total += len(added)
            if added:
                self._done = False
        self._kick()
        return len(added)

    def wait_done(self, timeout: float | None = None) -> bool:
        """Block until every item was delivered and acked (or gave up after its last retry).

        Returns ``False`` on timeout or if the simulator is closed first."""
        with self._cond:
            self._cond.wait_for(lambda: self._done or self._state == "closed", timeout)
            return self._done and self._released == self._items_total

    def wait_connections(self, n: int = 1, timeout: float | None = None) -> bool:
        """Block until at least ``n`` connections are open and greeted."""
        def ready() -> bool:
            return self._state == "closed" or sum(
                1 for c in self._conns.values() if c.hello_sent and c.state == "open") >= n

        with self._cond:
            return self._cond.wait_for(ready, timeout) and self._state != "closed"

    # ----------------------------------------------------------- inspection

    @property
    def connections(self) -> list[ConnectionInfo]:
        """Every connection so far (``s1``, ``s2``…), oldest first."""
        with self._lock:
            return [
                ConnectionInfo(
                    id=c.id, state=c.state, hello_sent=c.hello_sent, opened_at=c.opened_at + self._clock_offset,
                    closed_at=None if c.closed_at is None else c.closed_at + self._clock_offset,
                    deliveries=c.deliveries, acks=c.acks, silent=c.silent,
                    debug_reconnects=c.debug_reconnects, disconnect_reason=c.disconnect_reason,
                )
                for c in self._conns.values()
            ]

    @property
    def truth(self) -> Truth:
        """Ground truth from the ledger (times in epoch seconds): ``events``, ``deliveries``,
        ``acks``, ``acked_events``, ``unacked_events``, ``lost_events``, ``summary()``."""
        with self._lock:
            return self._ledger.snapshot(self._clock_offset)

    @property
    def stats(self) -> dict[str, int]:
        """Counters: API calls and errors, tickets, refused handshakes, connections, faults sent."""
        with self._lock:
            return {**self._stats, "items": self._items_total, "released": self._released}

    def __repr__(self) -> str:
        with self._lock:
            ports = f" api={self.api_url} ws={self.ws_url}" if self.ws_port else ""
            n_open = sum(1 for c in self._conns.values() if c.state != "closed")
            speed = "max" if math.isinf(self.speed) else f"{self.speed:g}"
            truth = self._ledger.snapshot().summary()
            paused = " paused" if self._paused_at is not None else ""
            text = (
                f"<Simulator {self._state}{paused}{ports} speed={speed} connections={n_open} open/"
                f"{len(self._conns)} items={self._released}/{self._items_total} "
                f"deliveries={truth['deliveries']} acked_events={truth['acked_events']} "
                f"in_flight={truth['in_flight']} queued={truth['queued']}>"
            )
        return mask_text(text)
