"""A local HTTP endpoint for Slack's Request URLs: :func:`receive_http` and :class:`HttpReceiver`.

Slack (through a tunnel such as ``ngrok http 3000``) or slacklab's own
simulator (:mod:`slacklab.sim.http_sender`) POSTs events, slash commands and
interactivity here. For every request the receiver:

1. reads the body (refusing more than ``max_body`` bytes with **413**);
2. turns it into a delivery row with :func:`slacklab.http.request.parse_request`
   (the same function :func:`slacklab.http.logs.read_http_log` uses);
3. decides the answer: the ``challenge`` for ``url_verification``, **401** when a
   signing secret is set and the signature is ``invalid``, ``stale`` or
   ``missing`` (the row is still recorded, with its verdict and status), 400
   for requests that are not Slack's, otherwise **200** with an empty body;
4. appends the exact raw request, with that status, to the JSON Lines ``log``
   (mode 0600; it holds raw payloads) *before* answering, so a request
   answered 200 is on disk even if the process dies right after; when the log
   cannot be written the request is answered **500** (Slack retries it later),
   kept as a problem row, and a note says why (fail closed, like the journal);
   ``read_http_log(log, signing_secret)`` turns it back into the same rows;
5. answers, then records the row (with ``http_status`` and ``response_ms``,
   the time to the answer) in the capture.

Nothing downstream (pandas, widgets) runs on the request path, so answers take
milliseconds. The server is the standard library's ``ThreadingHTTPServer`` in
its own daemon thread; ``capture.stop()`` shuts it down, aborts requests still
in flight and joins every thread. Bind to loopback (the default): anything
else is warned about.

Typical use::

    cap = slacklab.receive_http(3000, signing_secret=os.environ["SLACK_SIGNING_SECRET"],
                                log="slack-http.jsonl")
    cap.url            # http://127.0.0.1:3000/slack/events — point your tunnel here
    cap.wait_for(10)
    cap.df             # deliveries so far
    cap.stop()

For teaching, ``respond=`` lets a cell play a slow or failing app (see :class:`Reply`).
"""

from __future__ import annotations

import ipaddress
import json
import logging
import socket
import threading
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from slacklab.capture import Capture
from slacklab.http.logs import HttpLogWriter
from slacklab.http.request import CapturedRequest, ParsedRequest, parse_request
from slacklab.http.signing import INVALID, MISSING, STALE, check_secret
from slacklab.redact import mask_text

__all__ = ["HttpReceiver", "Reply", "receive_http"]

log = logging.getLogger("slacklab.http.receiver")

_REJECTED = frozenset({INVALID, STALE, MISSING})
_REQUEST_TIMEOUT = 10.0  # seconds a client may stall in the middle of a request
_DRAIN_LIMIT = 1 << 20  # bytes of a refused body read and dropped, so the client sees the 413, not a reset

# One receiver per (host, port) in this process: re-running a notebook cell
# stops the old one instead of failing with "address already in use".
_registry_lock = threading.Lock()
_registry: dict[tuple[str, int], HttpReceiver] = {}


@dataclass(frozen=True, slots=True)
class Reply:
    """How to answer one request instead of the default, for teaching retries.

    Returned by a ``respond`` callable given to :func:`receive_http`, which
    gets each verified delivery row (a dict: ``kind``, ``event_id``,
    ``retry_attempt``…) and returns a ``Reply`` or ``None`` (default answer).
    ``delay`` seconds are waited first (a slow app; Slack gives up after 3 s);
    ``headers`` such as ``{"X-Slack-No-Retry": "1"}`` are added.
    """

    status: int = 200
    delay: float = 0.0
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _Server(ThreadingHTTPServer):
    """ThreadingHTTPServer that knows its receiver and can abort requests in flight."""

    daemon_threads = True
    block_on_close = True  # server_close() joins the request threads

    def __init__(self, address: tuple[str, int], receiver: HttpReceiver) -> None:
        self.receiver = receiver
        self._active: set[socket.socket] = set()
        self._active_lock = threading.Lock()
        super().__init__(address, _Handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        with self._active_lock:
            self._active.add(request)
        try:
            super().finish_request(request, client_address)
        finally:
            with self._active_lock:
                self._active.discard(request)

    def abort_requests(self) -> None:
        with self._active_lock:
            active = list(self._active)
        for sock in active:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _Server6(_Server):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    timeout = _REQUEST_TIMEOUT
    server_version = "slacklab-receiver"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), mask_text(format % args))

    def _answer(
        self,
        status: int,
        body: bytes = b"",
        content_type: str = "text/plain; charset=utf-8",
        headers: Mapping[str, str] | None = None,
    ) -> bool:
        """Send a complete response; False when the client had already gone."""
        self.close_connection = True
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
        except OSError:
            return False
        return True

    def do_GET(self) -> None:
        if self.server.receiver.accepts(self.path):
            self._answer(200, b"slacklab receiver: POST Slack requests here\n")
        else:
            self._answer(404, b"not found\n")

    def do_POST(self) -> None:
        self.server.receiver.handle(self)


def _drain(handler: _Handler, limit: int) -> None:
    """Read and drop up to ``limit`` bytes already on their way (closing on unread data resets the socket)."""
    try:
        handler.connection.settimeout(0.2)
        while limit > 0:
            chunk = handler.rfile.read1(min(limit, 65536))
            if not chunk:
                return
            limit -= len(chunk)
    except OSError:
        return


class HttpReceiver:
    """Owns the HTTP server and its thread; feeds a :class:`~slacklab.capture.Capture`.

    Most people call :func:`receive_http`. Use this class directly for a
    ``with`` block::

        with HttpReceiver(signing_secret=secret) as cap:
            ...   # cap.url, cap.df

    Args: see :func:`receive_http`.
    """

    def __init__(
        self,
        port: int = 0,
        *,
        signing_secret: str | None = None,
        log: str | Path | None = None,
        host: str = "127.0.0.1",
        path: str | None = "/slack/events",
        max_body: int = 1_000_000,
        respond: Callable[[dict[str, Any]], Reply | None] | None = None,
    ) -> None:
        if max_body < 1:
            raise ValueError("max_body must be at least 1 byte")
        self.signing_secret = check_secret(signing_secret)
        self.host = host
        self.port = port
        self.path = path
        self.max_body = max_body
        self.respond = respond
        self.log_path = Path(log) if log is not None else None
        self.capture = Capture(source="http", label=f"http receiver :{port}")
        self._writer: HttpLogWriter | None = None
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._stop_lock = threading.Lock()
        self._stopped = False
        self._log_failing = False

    # ----------------------------------------------------------- lifecycle

    @property
    def url(self) -> str | None:
        """The endpoint to POST to (``http://127.0.0.1:PORT/slack/events``), once started."""
        return self.capture.url

    @property
    def running(self) -> bool:
        """True between :meth:`start` and :meth:`stop`."""
        return self._thread is not None and self._thread.is_alive() and not self._stopping.is_set()

    def start(self) -> Capture:
        """Bind, start serving in a daemon thread and return the capture (state ``receiving``)."""
        if self._thread is not None:
            return self.capture
        if not _is_loopback(self.host):
            message = (
                f"the receiver listens on {self.host!r}, not only on this machine: anyone who can "
                "reach it can post to it. Prefer 127.0.0.1 and a tunnel."
            )
            warnings.warn(message, stacklevel=3)
            log.warning(message)
            self.capture.note(message)
        if self.port:
            with _registry_lock:
                old = _registry.get((self.host, self.port))
            if old is not None:
                old.stop()
                self.capture.note(f"stopped the receiver already running on {self.host}:{self.port}")
        server_class = _Server6 if ":" in self.host else _Server
        self._server = server_class((self.host, self.port), self)
        self.port = int(self._server.server_address[1])
        if self.log_path is not None:
            self._writer = HttpLogWriter(self.log_path)
        shown_host = f"[{self.host}]" if ":" in self.host else self.host
        self.capture.url = f"http://{shown_host}:{self.port}{self.path or '/'}"
        self.capture.label = f"http receiver :{self.port}"
        self.capture._attach_stopper(self.stop)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.2},
            name=f"slacklab-receiver-{self.port}",
            daemon=True,
        )
        self._thread.start()
        with _registry_lock:
            _registry[(self.host, self.port)] = self
        self.capture.set_state("receiving", f"POST Slack requests to {self.capture.url}")
        log.info("receiving on %s", self.capture.url)
        return self.capture

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving, abort requests in flight, join every thread, close the log. Idempotent."""
        with self._stop_lock:
            if self._stopped:
                return
            self._stopped = True
        self._stopping.set()
        server, thread = self._server, self._thread
        if server is not None and thread is not None:
            server.shutdown()
            server.abort_requests()
            server.server_close()
            thread.join(timeout)
        if self._writer is not None:
            self._writer.close()
        with _registry_lock:
            if _registry.get((self.host, self.port)) is self:
                del _registry[(self.host, self.port)]
        self.capture.set_state("stopped", f"stopped; {len(self.capture)} deliveries received")
        log.info("receiver on port %s stopped", self.port)

    def __enter__(self) -> Capture:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else ("stopped" if self._stopped else "idle")
        return f"<HttpReceiver {self.url or self.host} {state}, {len(self.capture)} deliveries>"

    # ------------------------------------------------------------ requests

    def accepts(self, target: str) -> bool:
        """Whether a request to ``target`` is for this receiver (``path=None`` takes any path)."""
        return self.path is None or urlsplit(target).path == self.path

    def _refuse(self, handler: _Handler, at: float, status: int, problem: str) -> None:
        handler._answer(status, (problem + "\n").encode())
        self.capture.record_problem(at, None, f"{status}: {problem}", f"POST {handler.path}")
        log.info("refused a request with %s: %s", status, problem)

    def _decide(self, parsed: ParsedRequest) -> tuple[int, bytes, str, Mapping[str, str], float]:
        """Status, body, content type, extra headers and delay for a parsed request."""
        row = parsed.row
        if row is None:
            if parsed.slack:  # Slack's, but a body we do not know: never make Slack retry it
                return 200, b"", "text/plain; charset=utf-8", {}, 0.0
            return 400, b"not a Slack request\n", "text/plain; charset=utf-8", {}, 0.0
        if self.signing_secret is not None and row["signature"] in _REJECTED:
            return 401, f"signature {row['signature']}\n".encode(), "text/plain; charset=utf-8", {}, 0.0
        if row["kind"] == "url_verification":
            challenge = row["payload"].get("challenge")
            body = json.dumps({"challenge": challenge if isinstance(challenge, str) else ""}).encode()
            return 200, body, "application/json", {}, 0.0
        reply = self._ask_respond(row)
        if reply is None:
            return 200, b"", "text/plain; charset=utf-8", {}, 0.0
        return reply.status, reply.body, "text/plain; charset=utf-8", reply.headers, max(0.0, reply.delay)

    def _ask_respond(self, row: dict[str, Any]) -> Reply | None:
        """The ``respond`` callable's answer; its exceptions never reach Slack (default answer instead)."""
        if self.respond is None:
            return None
        try:
            reply = self.respond(dict(row))
        except Exception as exc:  # user code: report it, keep answering
            log.warning("respond() raised %s; answered 200 instead", exc.__class__.__name__)
            self.capture.note(
                f"respond() raised {exc.__class__.__name__}: {mask_text(str(exc))[:200]}; answered with the default 200"
            )
            return None
        return reply if isinstance(reply, Reply) else None

    def _log_failed(self, handler: _Handler, at: float, exc: OSError, described: str) -> None:
        """Fail closed, as the journal does: not on disk, not accepted (500: Slack retries); say so once."""
        assert self._writer is not None
        message = (
            f"cannot write the request log {self._writer.path} ({exc.strerror or exc}): requests are answered "
            "500 so Slack sends them again later; free some space or fix the file, and they are kept again"
        )
        handler._answer(500, b"slacklab could not record this request; please retry\n")
        self.capture.record_problem(at, None, f"500: {message}", described)
        if not self._log_failing:
            self._log_failing = True
            log.error("%s", message)
            self.capture.note(message)

    def handle(self, handler: _Handler) -> None:
        """Answer one POST (called in the request's thread)."""
        started, at = time.perf_counter(), time.time()
        if not self.accepts(handler.path):
            handler._answer(404, b"not found\n")
            return
        length_text = handler.headers.get("Content-Length")
        if length_text is None:
            self._refuse(handler, at, 411, "no Content-Length (chunked bodies are not accepted)")
            return
        if not length_text.strip().isdigit():
            self._refuse(handler, at, 400, "Content-Length is not a number")
            return
        length = int(length_text)
        if length > self.max_body:
            _drain(handler, min(length, _DRAIN_LIMIT))
            self._refuse(handler, at, 413, f"body of {length} bytes is over the {self.max_body}-byte limit")
            return
        try:
            body = handler.rfile.read(length)
        except OSError:
            body = b""
        if len(body) < length:
            self.capture.record_problem(
                at, None, f"client sent {len(body)} of {length} bytes, then went away", f"POST {handler.path}"
            )
            return
        request = CapturedRequest(at, "POST", handler.path, tuple(handler.headers.items()), body)
        parsed = parse_request(request, self.signing_secret)
        status, answer, content_type, headers, delay = self._decide(parsed)
        if delay:
            self._stopping.wait(delay)
        ms = round((time.perf_counter() - started) * 1000.0, 3)
        if self._writer is not None:  # logged (flushed to the OS) before answering: answered => on disk
            try:
                self._writer.write(CapturedRequest(at, "POST", handler.path, request.headers, body, status, ms))
            except OSError as exc:
                self._log_failed(handler, at, exc, request.describe())
                return
            if self._log_failing:
                self._log_failing = False
                self.capture.note(f"the request log {self._writer.path} is written again")
        if not handler._answer(status, answer, content_type, headers):
            log.info("the client went away before the answer (it gave up waiting?)")
        if parsed.row is not None:
            parsed.row.update(http_status=status, response_ms=ms)
            self.capture.record_delivery(parsed.row)
        else:
            self.capture.record_problem(at, None, parsed.problem or "unusable request", request.describe())


def receive_http(
    port: int = 0,
    *,
    signing_secret: str | None = None,
    log: str | Path | None = None,
    host: str = "127.0.0.1",
    path: str | None = "/slack/events",
    max_body: int = 1_000_000,
    respond: Callable[[dict[str, Any]], Reply | None] | None = None,
) -> Capture:
    """Start a local endpoint for Slack's HTTP deliveries; returns at once with a receiving capture.

    Args:
        port: TCP port; 0 picks a free one (see ``capture.url``). Re-running
            with the same port stops the receiver already there first.
        signing_secret: your app's signing secret (Basic Information). With it,
            forged, stale or unsigned requests get 401 and are recorded with
            their verdict; without it every row's ``signature`` is ``unchecked``.
        log: a JSON Lines file for the exact raw requests (created mode 0600;
            holds raw payloads). ``slacklab.load(log, secret)`` reloads it.
        host: the interface; loopback by default — anything else is warned about.
        path: the URL path to accept (``None``: any path). Others get 404.
        max_body: larger bodies are refused with 413 without being read.
        respond: optional ``row -> Reply | None`` to play a slow or failing app.

    Next: point a tunnel or :class:`slacklab.sim.http_sender.HttpDelivery` at
    ``capture.url``; read ``capture.df``; call ``capture.stop()`` when done.
    """
    receiver = HttpReceiver(
        port, signing_secret=signing_secret, log=log, host=host, path=path, max_body=max_body, respond=respond
    )
    return receiver.start()
