"""The simulator's Web API on a tiny asyncio HTTP server: ``apps.connections.open`` (one-time tickets) and the
methods a Bolt app calls (answered by :class:`~slacklab.sim.webapi_methods.SlackState`).

:class:`WebApi` answers what a Socket Mode client asks Slack's Web API before it
connects (facts and observations in ``docs/slack-protocol.md`` (Socket Mode)):

* ``POST {api_url}apps.connections.open`` with ``Authorization: Bearer <xapp-…>``
  returns ``{"ok": true, "url": "ws://127.0.0.1:PORT/link/?ticket=…&app_id=A0SIMAPP"}``.
  Missing token → ``not_authed``; a non-``xapp-`` token → ``not_allowed_token_type``;
  any other ``xapp-`` token → ``invalid_auth``. ``api.test`` answers ``ok``; the
  methods of :mod:`slacklab.sim.webapi_methods` (``auth.test``, ``chat.postMessage``…)
  go to its ``state`` with the bot token from ``Authorization`` or the ``token``
  argument, and the events they cause go to ``publish``; ``POST /hooks/…`` is a
  ``response_url``; any other method ``unknown_method``; a request it cannot read gets HTTP 400.
* Tickets are single-use and never expire: :meth:`WebApi.redeem` hands each one
  out once (the WebSocket side, :mod:`slacklab.sim.socket_mode`, calls it at the handshake).
* :meth:`WebApi.fail_next_open` makes the next valid calls fail (``ratelimited``…).

The :class:`~slacklab.sim.server.Simulator` owns one, starts and closes it on its
loop thread (:meth:`WebApi.start`, :meth:`WebApi.aclose`) and shares its lock
with it; use the simulator rather than this class.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import io
import json
import logging
import math
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from http import HTTPStatus
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlsplit

from slacklab.redact import mask_text
from slacklab.sim.webapi_methods import ApiAnswer, SlackState
from slacklab.sim.workspace import ScenarioItem

__all__ = ["ApiSettings", "WebApi"]

log = logging.getLogger("slacklab.sim.server")  # records go to the simulator's log


class ApiSettings(Protocol):
    """What the Web API reads from its simulator, each time it needs it."""

    app_token: str
    """The only ``xapp-`` token accepted."""
    app_id: str

    @property
    def ws_url(self) -> str:
        """The WebSocket endpoint the tickets are for (known once it is bound)."""
        ...


class WebApi:
    """``apps.connections.open`` (and ``api.test``) for one simulator.

    ``settings`` is the simulator; ``lock`` is its lock, which also guards the
    tickets, the queued failures and :attr:`stats`.
    """

    def __init__(
        self,
        settings: ApiSettings,
        *,
        lock: threading.RLock,
        state: SlackState | None = None,
        publish: Callable[[list[ScenarioItem]], object] | None = None,
    ) -> None:
        self._settings = settings
        self._lock = lock
        self.state = state
        self._publish = publish
        self.stats = dict.fromkeys(("api_calls", "api_errors", "tickets"), 0)
        self._tickets: dict[str, bool] = {}  # one-time ticket -> debug_reconnects (from issue_url)
        self._failures: deque[tuple[str, float | None, int | None]] = deque()
        self._server: asyncio.Server | None = None
        self._http_tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> int:
        """Listen on 127.0.0.1 (a free port) on the running loop; returns the port."""
        # A tiny asyncio server on the simulator's loop rather than http.server's
        # ThreadingHTTPServer: one loop owns all state (tickets, queued failures),
        # there are no extra threads to join on close(), and apps.connections.open
        # is one small request per connection.
        self._server = await asyncio.start_server(self._handle_http, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    async def aclose(self) -> None:
        """Stop listening and cancel requests still being answered."""
        if self._server is None:
            return
        self._server.close()
        for task in list(self._http_tasks):
            task.cancel()
        await self._server.wait_closed()

    # ------------------------------------------------------------ tickets

    def issue_url(self, *, debug_reconnects: bool = False) -> str:
        """A fresh one-time WebSocket URL, as ``apps.connections.open`` would return (thread-safe)."""
        ticket = str(uuid.uuid4())
        with self._lock:
            self._tickets[ticket] = debug_reconnects
            self.stats["tickets"] += 1
        url = f"{self._settings.ws_url}?ticket={ticket}&app_id={self._settings.app_id}"
        return url + ("&debug_reconnects=true" if debug_reconnects else "")

    def redeem(self, ticket: str) -> bool | None:
        """Use up ``ticket``: its ``debug_reconnects`` flag, or ``None`` if unknown or already used."""
        with self._lock:
            return self._tickets.pop(ticket, None)

    def fail_next_open(
        self, error: str, retry_after: float | None = None, *, status: int | None = None, times: int = 1
    ) -> None:
        """Queue ``times`` failures for the next valid calls (see ``Simulator.fail_next_open``)."""
        with self._lock:
            for _ in range(times):
                self._failures.append((error, retry_after, status))

    # ---------------------------------------------------------------- HTTP

    async def _handle_http(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._http_tasks.add(task)
        extra: dict[str, str]
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
            except (
                asyncio.IncompleteReadError,
                asyncio.LimitOverrunError,
                ValueError,
                TimeoutError,
                http.client.HTTPException,
            ):
                status, answer, extra = 400, {"ok": False, "error": "invalid_request"}, {}
            else:
                ctype = headers.get("Content-Type", "")
                status, answer, extra = self._web_api(method, target, headers.get("Authorization", ""), body, ctype)
            data = json.dumps(answer).encode()
            lines = [
                f"HTTP/1.1 {status} {HTTPStatus(status).phrase}",
                "Content-Type: application/json; charset=utf-8",
                f"Content-Length: {len(data)}",
                "Connection: close",
                "Server: slacklab-simulator",
                *(f"{k}: {v}" for k, v in extra.items()),
            ]
            writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + data)
            await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
            self._http_tasks.discard(task)

    def _web_api(
        self, method: str, target: str, authorization: str, body: bytes, content_type: str = ""
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        url = urlsplit(target)
        path = url.path
        if path.startswith("/hooks/") and method == "POST" and self.state is not None:
            params = _params(url.query, body, content_type)
            with self._lock:
                answer = self.state.respond(path[len("/hooks/") :], params, time.time())
            return self._answer(answer)
        if not path.startswith("/api/"):
            return 404, {"ok": False, "error": "not_found"}, {}
        if method not in ("GET", "POST"):
            return 405, {"ok": False, "error": "method_not_supported"}, {}
        name = path[len("/api/") :]
        with self._lock:
            self.stats["api_calls"] += 1
        if name == "api.test":
            return 200, {"ok": True}, {}
        scheme, _, token = authorization.partition(" ")
        token = token.strip() if scheme.lower() == "bearer" else ""
        if name != "apps.connections.open":
            if self.state is None:
                return 200, {"ok": False, "error": "unknown_method"}, {}
            params = _params(url.query, body, content_type)
            token = token or str(params.pop("token", "") or "")
            params.pop("token", None)
            with self._lock:
                answer = self.state.call(name, token, params, time.time())
            log.info("%s -> %s", name, "ok" if answer.body.get("ok") else answer.body.get("error"))
            return self._answer(answer)
        if not token and b"token=" in body:
            log.info("apps.connections.open: the app token must be sent as 'Authorization: Bearer', not in the body")
        error = (
            "not_authed"
            if not token
            else "not_allowed_token_type"
            if not token.startswith("xapp-")
            else "invalid_auth"
            if token != self._settings.app_token
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
                self.stats["api_errors"] += 1
            log.info("apps.connections.open -> %s (HTTP %d)", error, status)
            return status, {"ok": False, "error": error}, extra
        ws_url = self.issue_url()
        log.info("apps.connections.open -> %s", mask_text(ws_url))
        return 200, {"ok": True, "url": ws_url}, {}

    def _answer(self, answer: ApiAnswer) -> tuple[int, dict[str, Any], dict[str, str]]:
        """Hand the events an answer causes to the simulator (they go out like scenario items)."""
        if answer.events and self._publish is not None:
            self._publish(list(answer.events))
        if not answer.body.get("ok"):
            with self._lock:
                self.stats["api_errors"] += 1
        return answer.status, answer.body, dict(answer.headers)


def _params(query: str, body: bytes, content_type: str) -> dict[str, Any]:
    """A Web API call's arguments: the query string, then a form or JSON body (as slack_sdk sends them)."""
    params: dict[str, Any] = dict(parse_qsl(query, keep_blank_values=True))
    if not body:
        return params
    text = body.decode("utf-8", "replace")
    if "json" in content_type.lower():
        try:
            data = json.loads(text)
        except ValueError:
            return params
        if isinstance(data, dict):
            params.update(data)
        return params
    params.update(parse_qsl(text, keep_blank_values=True))
    return params
