"""Listener throughput and ack latency against a lean Slack stand-in: slacklab vs a bare client vs slack_sdk.

One command (from the repository root; ~3.5 minutes on 2 cores)::

    .venv/bin/python benchmarks/bench_listener.py
    .venv/bin/python benchmarks/bench_listener.py --quick    # smaller loads, ~1 minute

How it is measured
------------------
* **Slack's side is a lean stand-in** (:class:`LeanSlack`, in this process, on 127.0.0.1):
  every envelope is JSON-encoded *and* framed as a WebSocket frame before the run, so
  sending is one ``sendall`` of pre-built bytes (flood), a slice of them per batch of
  acks (closed loop) or one frame per tick (steady). Acks are only counted and kept as
  raw bytes while the run lasts; they are decoded afterwards. The stand-in's CPU share
  (CPU seconds of this process / wall seconds) is reported per row, and a row whose
  stand-in used more than 0.85 of a core is marked **invalid**: the server, not the
  client, set the pace, and the row is not counted towards any target.
* Each client runs in a **fresh child process** (no shared GIL with Slack's side):
  ``bare``           a bare ``websockets`` client: ``json.loads`` each frame, ack it (the ceiling);
  ``sdk-builtin``, ``sdk-websockets``
                     slack_sdk's ``SocketModeClient`` (``slack_sdk.socket_mode.builtin`` and
                     ``.websockets``, the latter with aiohttp's ``AsyncWebClient``): a request
                     listener acks and appends the payload; ``pandas.json_normalize`` afterwards;
  ``slacklab``       ``slacklab.Listener`` with its journal on (journal -> ack -> ``capture.add_raw``);
                     ``capture.deliveries()`` afterwards;
  ``slacklab-ackpath`` (diagnostic) the same listener with ``capture.add_raw`` replaced by a list
                     append, rows built afterwards: the ack path alone, without the store;
  ``slacklab-nojournal`` (diagnostic, flood and closed) the same without a journal either.
* Loads: ``flood`` (every envelope sent at once, open loop), ``closed`` (``--in-flight``
  outstanding, the next sent as each ack arrives), ``steady`` (``--rate``/s, real time)
  and ``busy`` (steady while the client's main thread runs a pure-Python loop).
* ``events_per_s`` = acks / (last ack - first send), server clock. ``with_df_per_s`` also
  counts the DataFrame build after the run. Ack latency (steady, busy) = ack received -
  frame sent, server clock. Every headline figure is a ratio against ``bare`` in the
  same invocation.
* Also measured here: the header decoder for the ack path (``msgspec`` Struct vs
  ``orjson`` vs ``json`` on the same frames), which chose ``slacklab.protocol.peek_envelope``.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import peak_rss_mb, percentile, rss_mb, table, verdict, write_results

CLIENTS = ("bare", "sdk-builtin", "sdk-websockets", "slacklab", "slacklab-ackpath", "slacklab-nojournal")
DIAGNOSTIC_ONLY_IN = {"slacklab-nojournal": ("flood", "closed")}  # throughput breakdown, not latency
LOADS = ("flood", "closed", "steady", "busy")
TOKEN = "xapp-1-A0BENCH-0000-NOT-A-REAL-TOKEN"
SATURATED = 0.85

# =================================================================== child side


def _busy_chunk() -> int:
    s = 0
    for i in range(5000):
        s += i * i
    return s


def _keys_of(payload_list: list[tuple[str, dict[str, Any]]]) -> list[str | None]:
    from slacklab.schema import event_key, payload_fields

    keys = []
    for kind, payload in payload_list:
        f = payload_fields(kind, payload)
        keys.append(
            event_key(
                event_id=f.get("event_id"),
                team_id=f.get("team_id"),
                api_app_id=f.get("api_app_id"),
                trigger_id=f.get("trigger_id"),
                envelope_id=None,
            )
        )
    return keys


class _Bare:
    """websockets asyncio client in its own thread and loop: parse, ack, nothing else."""

    def __init__(self, api_url: str, token: str) -> None:
        from slack_sdk import WebClient

        self.url = WebClient(base_url=api_url).apps_connections_open(app_token=token)["url"]
        self.count = 0
        self._loop: Any = None
        self._ws: Any = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        import asyncio

        asyncio.run(self._main())

    async def _main(self) -> None:
        import asyncio

        from websockets.asyncio.client import connect
        from websockets.exceptions import ConnectionClosed

        self._loop = asyncio.get_running_loop()
        async with connect(self.url, proxy=None, max_queue=None, ping_interval=10, ping_timeout=10) as ws:
            self._ws = ws
            try:
                async for message in ws:
                    data = json.loads(message)
                    envelope_id = data.get("envelope_id")
                    if envelope_id:
                        await ws.send(json.dumps({"envelope_id": envelope_id}))
                        self.count += 1
            except ConnectionClosed:
                pass

    def stop(self) -> dict[str, Any]:
        import asyncio

        if self._loop is not None and self._ws is not None:
            asyncio.run_coroutine_threadsafe(self._ws.close(), self._loop).result(10)
        self._thread.join(10)
        return {"received": self.count, "keys": None}


class _SdkSync:
    """slack_sdk's threaded SocketModeClient (builtin variant)."""

    def __init__(self, api_url: str, token: str) -> None:
        from slack_sdk import WebClient
        from slack_sdk.socket_mode.builtin import SocketModeClient
        from slack_sdk.socket_mode.response import SocketModeResponse

        self.payloads: list[tuple[str, dict[str, Any]]] = []
        self.client = SocketModeClient(app_token=token, web_client=WebClient(base_url=api_url))

        def on_request(client: Any, req: Any) -> None:
            client.send_socket_mode_response(SocketModeResponse(envelope_id=req.envelope_id))
            self.payloads.append((req.type, req.payload))

        self.client.socket_mode_request_listeners.append(on_request)

    def start(self) -> None:
        self.client.connect()

    def stop(self) -> dict[str, Any]:
        self.client.close()
        return {"received": len(self.payloads)}

    def finish(self) -> dict[str, Any]:
        import pandas as pd

        t0 = time.perf_counter()
        df = pd.json_normalize([p for _, p in self.payloads])
        return {"post_s": time.perf_counter() - t0, "post_rows": len(df), "keys": _keys_of(self.payloads)}


class _SdkAsync:
    """slack_sdk's websockets-based (asyncio) SocketModeClient, in its own thread and loop."""

    def __init__(self, api_url: str, token: str) -> None:
        self.api_url, self.token = api_url, token
        self.payloads: list[tuple[str, dict[str, Any]]] = []
        self._loop: Any = None
        self._stop: Any = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()
        self._ready.wait(30)

    def _run(self) -> None:
        import asyncio

        asyncio.run(self._main())

    async def _main(self) -> None:
        import asyncio

        from slack_sdk.socket_mode.response import SocketModeResponse
        from slack_sdk.socket_mode.websockets import SocketModeClient
        from slack_sdk.web.async_client import AsyncWebClient

        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        client = SocketModeClient(app_token=self.token, web_client=AsyncWebClient(base_url=self.api_url))

        async def on_request(client: Any, req: Any) -> None:
            await client.send_socket_mode_response(SocketModeResponse(envelope_id=req.envelope_id))
            self.payloads.append((req.type, req.payload))

        client.socket_mode_request_listeners.append(on_request)
        await client.connect()  # type: ignore[no-untyped-call]
        self._ready.set()
        await self._stop.wait()
        await client.close()  # type: ignore[no-untyped-call]

    def stop(self) -> dict[str, Any]:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(15)
        return {"received": len(self.payloads)}

    finish = _SdkSync.finish


class _Slacklab:
    """slacklab.Listener with its journal on (``ack_path_only``: the store replaced by a list append)."""

    def __init__(self, api_url: str, token: str, ack_path_only: bool = False, journal: bool = True) -> None:
        import tempfile

        from slacklab.listener import Listener

        self._dir = tempfile.mkdtemp(prefix="slacklab-bench-")
        self._journal = Path(self._dir) / "journal.jsonl" if journal else None
        self.listener = Listener(token, api_url=api_url, journal=self._journal)
        self.raw: list[tuple[Any, dict[str, Any]]] | None = None
        if ack_path_only:
            capture = self.listener.capture
            raw: list[tuple[Any, dict[str, Any]]] = []
            self.raw, self._add_raw = raw, capture.add_raw

            def keep(frame: Any, **where: Any) -> None:
                raw.append((frame, where))

            capture.add_raw = keep  # type: ignore[method-assign,assignment]

    def start(self) -> None:
        self.listener.start()

    def stop(self) -> dict[str, Any]:
        self.listener.stop()
        return {"received": len(self.listener.capture) if self.raw is None else len(self.raw)}

    def finish(self) -> dict[str, Any]:
        import shutil

        t0 = time.perf_counter()
        if self.raw is not None:
            for frame, where in self.raw:
                self._add_raw(frame, **where)
        df = self.listener.capture.deliveries()
        post = time.perf_counter() - t0
        keys = df["event_key"].tolist()
        journal_mb = self._journal.stat().st_size / 2**20 if self._journal is not None else 0.0
        shutil.rmtree(self._dir, ignore_errors=True)
        return {"post_s": post, "post_rows": len(df), "keys": keys, "journal_mb": journal_mb}


def child(args: argparse.Namespace) -> None:
    """Run one client until told to stop on stdin; print one JSON line of results."""
    import pandas  # noqa: F401 - imported before the baseline, like in a notebook
    import slack_sdk  # noqa: F401
    import websockets  # noqa: F401

    import slacklab.listener  # noqa: F401

    stop = threading.Event()

    def wait_stdin() -> None:
        sys.stdin.readline()
        stop.set()

    threading.Thread(target=wait_stdin, daemon=True).start()
    if args.switch_interval:
        sys.setswitchinterval(args.switch_interval)
    client: Any
    if args.child == "none":
        client = None
    elif args.child == "bare":
        client = _Bare(args.api_url, args.token)
    elif args.child == "sdk-builtin":
        client = _SdkSync(args.api_url, args.token)
    elif args.child == "sdk-websockets":
        client = _SdkAsync(args.api_url, args.token)
    elif args.child == "slacklab":
        client = _Slacklab(args.api_url, args.token)
    elif args.child == "slacklab-ackpath":
        client = _Slacklab(args.api_url, args.token, ack_path_only=True)
    elif args.child == "slacklab-nojournal":
        client = _Slacklab(args.api_url, args.token, ack_path_only=True, journal=False)
    else:
        raise SystemExit(f"unknown client {args.child}")
    import gc

    pauses: list[float] = []
    started: list[float] = []

    def on_gc(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            started.append(time.perf_counter())
        elif started:
            pauses.append((time.perf_counter() - started.pop()) * 1000.0)

    base_rss = rss_mb()
    print(json.dumps({"ready": True}), flush=True)
    gc.callbacks.append(on_gc)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    if client is not None:
        client.start()
    chunks = 0
    busy_s = 0.0
    if args.busy:
        t0 = time.perf_counter()
        while not stop.is_set():
            _busy_chunk()
            chunks += 1
        busy_s = time.perf_counter() - t0
    else:
        stop.wait()
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    gc.callbacks.remove(on_gc)
    out: dict[str, Any] = {
        "cpu_s": cpu,
        "wall_s": wall,
        "busy_chunks": chunks,
        "busy_s": busy_s,
        "gc_runs": len(pauses),
        "gc_max_ms": max(pauses, default=0.0),
    }
    if client is not None:
        out.update(client.stop())
        peak = peak_rss_mb()
        if hasattr(client, "finish"):
            out.update(client.finish())
        out["peak_mb"] = peak - base_rss
    print(json.dumps(out), flush=True)


# ============================================================ Slack's side


_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455


def ws_frame(payload: bytes, opcode: int = 1) -> bytes:
    """One unmasked (server-to-client) WebSocket frame, FIN set."""
    n = len(payload)
    if n < 126:
        head = bytes([0x80 | opcode, n])
    elif n < 65536:
        head = bytes([0x80 | opcode, 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([0x80 | opcode, 127]) + n.to_bytes(8, "big")
    return head + payload


def _frame_payload(frame: bytes) -> bytes:
    """The payload of an unmasked frame made by :func:`ws_frame` (its header is 2, 4 or 10 bytes)."""
    n = frame[1] & 0x7F
    return frame[2 if n < 126 else 4 if n == 126 else 10 :]


def unmask(payload: bytes, mask: bytes) -> bytes:
    n = len(payload)
    key = (mask * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")).to_bytes(n, "big")


def build_frames(n: int, seed: int) -> tuple[list[str], list[bytes]]:
    """``n`` Slack-shaped envelopes (scenario payloads, unique ids): their ids and their frames."""
    from slacklab.sim.scenario import build_scenario

    items = list(build_scenario(seed=seed, events=n, duration=0.0))
    ids, frames = [], []
    for i, item in enumerate(items):
        envelope_id = str(uuid.UUID(int=(seed << 64) + i + 1, version=4))
        frame: dict[str, Any] = {
            "envelope_id": envelope_id,
            "payload": item.payload,
            "type": item.kind,
            "accepts_response_payload": item.accepts_response_payload,
        }
        if item.kind == "events_api":
            frame.update(retry_attempt=0, retry_reason="")
        ids.append(envelope_id)
        frames.append(ws_frame(json.dumps(frame, ensure_ascii=False, separators=(",", ":")).encode()))
    return ids, frames


class LeanSlack:
    """Slack's side reduced to sending pre-built frames and counting acks (see the module docstring).

    ``mode``: ``flood`` (all frames in one ``sendall``), ``closed`` (``in_flight``
    outstanding) or ``steady`` (``rate`` per second). The first WebSocket connection
    gets the workload; ``done`` is set when every frame was acked.
    """

    HELLO = ws_frame(
        b'{"type":"hello","num_connections":1,"debug_info":{"host":"lean-bench","build_number":1,'
        b'"approximate_connection_time":18060},"connection_info":{"app_id":"A0BENCH"}}'
    )

    def __init__(self, frames: list[bytes], mode: str, *, in_flight: int = 100, rate: float = 500.0) -> None:
        self.frames, self.mode, self.in_flight, self.rate = frames, mode, in_flight, rate
        self.blob = b"".join(frames)
        self.offsets = [0]
        for f in frames:
            self.offsets.append(self.offsets[-1] + len(f))
        self.acks: list[tuple[float, bytes, bytes]] = []  # (received, masked payload, mask)
        self.sent_at: list[float] = [0.0] * len(frames)
        self.first_send: float | None = None
        self.done = threading.Event()
        self._claimed = False
        self._threads: list[threading.Thread] = []
        self._socks: list[socket.socket] = []
        self.ws = socket.create_server(("127.0.0.1", 0))
        ws_port = self.ws.getsockname()[1]
        url = f"ws://127.0.0.1:{ws_port}/link/?ticket=bench".encode()

        class Api(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                body = b'{"ok":true,"url":"' + url + b'"}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _answer

            def log_message(self, *args: object) -> None:
                pass

        self.api = ThreadingHTTPServer(("127.0.0.1", 0), Api)
        self.api_url = f"http://127.0.0.1:{self.api.server_address[1]}/api/"
        self._spawn(self.api.serve_forever)
        self._spawn(self._accept)

    def _spawn(self, target: Any, *args: Any) -> None:
        t = threading.Thread(target=target, args=args, daemon=True, name="lean-slack")
        t.start()
        self._threads.append(t)

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self.ws.accept()
            except OSError:
                return
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._socks.append(sock)
            self._spawn(self._serve, sock)

    def _serve(self, sock: socket.socket) -> None:
        try:
            request = b""
            while b"\r\n\r\n" not in request:
                chunk = sock.recv(4096)
                if not chunk:
                    return
                request += chunk
            head, _, rest = request.partition(b"\r\n\r\n")
            key = next(
                line.split(b":", 1)[1].strip()
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"sec-websocket-key:")
            )
            accept = base64.b64encode(hashlib.sha1(key + _GUID).digest())
            sock.sendall(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n" + self.HELLO
            )
            first, self._claimed = not self._claimed, True
            if first and self.mode == "flood":
                self._spawn(self._flood, sock)
            elif first and self.mode == "steady":
                self._spawn(self._steady, sock)
            elif first:
                self.first_send = time.perf_counter()
                sock.sendall(self.blob[: self.offsets[min(self.in_flight, len(self.frames))]])
            self._read(sock, bytearray(rest), closed_loop=first and self.mode == "closed")
        except OSError:
            pass

    def _flood(self, sock: socket.socket) -> None:
        self.first_send = time.perf_counter()
        try:
            sock.sendall(self.blob)
        except OSError:
            pass

    def _steady(self, sock: socket.socket) -> None:
        t0 = self.first_send = time.perf_counter()
        try:
            for i, frame in enumerate(self.frames):
                delay = t0 + i / self.rate - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                self.sent_at[i] = time.perf_counter()
                sock.sendall(frame)
        except OSError:
            pass

    def _read(self, sock: socket.socket, buf: bytearray, *, closed_loop: bool) -> None:
        """Parse the client's (masked) frames: count text frames (acks), answer pings and close."""
        acks, n, sent = self.acks, len(self.frames), min(self.in_flight, len(self.frames))
        while True:
            pos, got = 0, 0
            now = time.perf_counter()
            while len(buf) - pos >= 6:
                b0, b1 = buf[pos], buf[pos + 1]
                size, at = b1 & 0x7F, pos + 2
                if size == 126:
                    size, at = int.from_bytes(buf[at : at + 2], "big"), at + 2
                elif size == 127:
                    size, at = int.from_bytes(buf[at : at + 8], "big"), at + 8
                if len(buf) < at + 4 + size:
                    break
                mask, payload = bytes(buf[at : at + 4]), bytes(buf[at + 4 : at + 4 + size])
                pos = at + 4 + size
                opcode = b0 & 0x0F
                if opcode == 1:
                    acks.append((now, payload, mask))
                    got += 1
                elif opcode == 9:  # ping: pong with the same data
                    sock.sendall(ws_frame(unmask(payload, mask), 10))
                elif opcode == 8:  # close: answer, then close the TCP connection (the server's part)
                    sock.sendall(ws_frame(unmask(payload, mask)[:2], 8))
                    sock.shutdown(socket.SHUT_RDWR)
                    return
            del buf[:pos]
            if closed_loop and got and sent < n:
                upto = min(n, sent + got)
                sock.sendall(self.blob[self.offsets[sent] : self.offsets[upto]])
                sent = upto
            if len(acks) >= n:
                self.done.set()
            chunk = sock.recv(1 << 16)
            if not chunk:
                return
            buf += chunk

    def acked(self) -> dict[str, float]:
        """Envelope id -> first ack time (decoded after the run)."""
        out: dict[str, float] = {}
        for t, payload, mask in self.acks:
            try:
                envelope_id = json.loads(unmask(payload, mask)).get("envelope_id")
            except ValueError:
                continue
            if isinstance(envelope_id, str) and envelope_id not in out:
                out[envelope_id] = t
        return out

    def close(self) -> None:
        self.api.shutdown()
        self.api.server_close()
        self.ws.close()
        for sock in self._socks:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
        for t in self._threads:
            t.join(5)


# ================================================================== parent side


def _spawn(client: str, api_url: str, busy: bool) -> subprocess.Popen[str]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", client, "--api-url", api_url, "--token", TOKEN]
    if busy:
        cmd.append("--busy")
    proc = subprocess.Popen(
        cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"}
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line or not json.loads(line).get("ready"):
        proc.kill()
        raise RuntimeError(f"{client} child did not start: {line!r}")
    return proc


def _finish(proc: subprocess.Popen[str]) -> dict[str, Any]:
    try:
        out, _ = proc.communicate("stop\n", timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    lines = [ln for ln in out.splitlines() if ln.startswith("{")]
    return json.loads(lines[-1]) if lines else {"error": "no result"}


def busy_baseline(seconds: float) -> dict[str, Any]:
    """The busy loop alone (no client) for ``seconds``: its chunks/s is the main thread's baseline."""
    proc = _spawn("none", "-", busy=True)
    time.sleep(seconds)
    return _finish(proc)


def run_one(client: str, load: str, ids: list[str], frames: list[bytes], args: argparse.Namespace) -> dict[str, Any]:
    slack = LeanSlack(frames, "steady" if load == "busy" else load, in_flight=args.in_flight, rate=args.rate)
    timeout = args.timeout if load in ("flood", "closed") else len(frames) / args.rate + 10
    try:
        proc = _spawn(client, slack.api_url, busy=load == "busy")
        cpu0, wall0 = time.process_time(), time.perf_counter()
        finished = slack.done.wait(timeout)
        wall = time.perf_counter() - wall0
        server_cpu = (time.process_time() - cpu0) / max(1e-9, wall)
        time.sleep(0.05)  # let the last store happen after the last ack
        res = _finish(proc)
    finally:
        slack.close()
    acked = slack.acked()
    first = slack.first_send or wall0
    span = max(acked.values()) - first if acked else 0.0
    row: dict[str, Any] = {
        "client": client,
        "load": load,
        "finished": finished,
        "envelopes": len(frames),
        "acked": len(acked),
        "events_per_s": len(acked) / span if span > 0 else None,
        "server_cpu": server_cpu,
        "valid": server_cpu <= SATURATED,
        **res,
    }
    if load in ("steady", "busy"):
        lat = [(acked[e] - slack.sent_at[i]) * 1000.0 for i, e in enumerate(ids) if e in acked]
        row.update(ack_p50_ms=percentile(lat, 0.5), ack_p99_ms=percentile(lat, 0.99), ack_max_ms=max(lat, default=None))
    keys = row.pop("keys", None)
    row["unacked"] = len(frames) - len(acked)
    if keys is not None:
        got = [k for k in keys if k]
        row["stored"], row["duplicated"] = len(got), len(got) - len(set(got))
        row["lost"] = len(frames) - len(set(got))
    if row.get("post_s") is not None and span > 0:
        row["with_df_per_s"] = len(acked) / (span + row["post_s"])
    if row.get("cpu_s") is not None and acked and load != "busy":
        row["cpu_us_per_event"] = row["cpu_s"] * 1e6 / len(acked)
    return row


def decoders(frames: list[bytes]) -> list[dict[str, float | str]]:
    """The ack path's header decode on these frames: msgspec Struct vs orjson vs json (µs per frame)."""
    import timeit

    from slacklab.protocol import peek_envelope

    texts = [_frame_payload(f).decode() for f in frames[:2000]]
    candidates: dict[str, Any] = {"json.loads": lambda t: json.loads(t).get("envelope_id")}
    try:
        import orjson

        candidates["orjson.loads"] = lambda t: orjson.loads(t).get("envelope_id")
    except ImportError:
        pass
    candidates["msgspec Struct (peek_envelope)"] = peek_envelope
    out: list[dict[str, float | str]] = []
    for name, fn in candidates.items():
        best = min(timeit.repeat(lambda: [fn(t) for t in texts], number=5, repeat=5)) / (5 * len(texts))
        out.append({"decoder": name, "us_per_frame": best * 1e6})
    base = float(out[0]["us_per_frame"])
    for r in out:
        r["vs_json"] = float(r["us_per_frame"]) / base
    return out


def parent(args: argparse.Namespace) -> None:
    rows: list[dict[str, Any]] = []
    baseline = None
    sizes = {"flood": args.flood, "closed": args.closed, "steady": int(args.rate * args.seconds)}
    sizes["busy"] = sizes["steady"]
    built = {n: build_frames(n, seed=7) for n in sorted(set(sizes.values()))}
    dec = decoders(built[max(built)][1])
    for r in dec:
        print(f"decoder {r['decoder']:32s} {r['us_per_frame']:.2f} us/frame ({r['vs_json']:.2f}x json)", flush=True)
    for load in args.loads:
        ids, frames = built[sizes[load]]
        if load == "busy":
            baseline = busy_baseline(min(args.seconds, 4.0))
            baseline["chunks_per_s"] = baseline["busy_chunks"] / max(1e-9, baseline["busy_s"])
        for client in args.clients:
            if load not in DIAGNOSTIC_ONLY_IN.get(client, LOADS):
                continue
            t0 = time.perf_counter()
            try:
                row = run_one(client, load, ids, frames, args)
            except Exception as exc:
                row = {"client": client, "load": load, "error": f"{type(exc).__name__}: {exc}", "valid": False}
            if load == "busy" and baseline and row.get("busy_s"):
                row["main_thread_kept"] = (row["busy_chunks"] / row["busy_s"]) / baseline["chunks_per_s"]
            rows.append(row)
            shown = ("events_per_s", "ack_p99_ms", "unacked", "lost", "server_cpu", "cpu_us_per_event", "error")
            brief = {k: round(v, 3) if isinstance(v, float) else v for k, v in row.items() if k in shown}
            print(f"{load:7s} {client:17s} {time.perf_counter() - t0:5.1f}s  {json.dumps(brief)}", flush=True)
    report(args, rows, baseline, dec)


def report(
    args: argparse.Namespace,
    rows: list[dict[str, Any]],
    baseline: dict[str, Any] | None,
    dec: list[dict[str, float | str]],
) -> None:
    by = {(r["client"], r["load"]): r for r in rows}
    for r in rows:
        bare = by.get(("bare", r["load"]))
        if bare and r.get("events_per_s") and bare.get("events_per_s"):
            r["vs_bare"] = r["events_per_s"] / bare["events_per_s"]
        if bare and r.get("cpu_us_per_event") and bare.get("cpu_us_per_event"):
            r["cpu_vs_bare"] = r["cpu_us_per_event"] / bare["cpu_us_per_event"]
    checks: list[dict[str, Any]] = []

    def check(name: str, ok: bool | None, detail: str) -> None:
        checks.append({"target": name, "result": verdict(ok), "measured": detail})

    def valid(*found: dict[str, Any] | None) -> bool:
        return all(f is not None and f.get("valid") for f in found)

    for load in ("flood", "closed"):
        ours, bare, sdk = by.get(("slacklab", load)), by.get(("bare", load)), by.get(("sdk-websockets", load))
        if ours is None or bare is None or not ours.get("events_per_s"):
            continue
        r = ours
        ok = r.get("vs_bare", 0) >= 0.8 if valid(r, bare) else None
        check(
            f"slacklab >= 0.8x bare events/s ({load})",
            ok,
            f"{r.get('vs_bare', float('nan')):.2f}x ({r['events_per_s']:,.0f} vs {bare['events_per_s']:,.0f}/s)"
            + ("" if valid(r, bare) else "; invalid: the stand-in was saturated"),
        )
        if sdk is not None and sdk.get("with_df_per_s") and r.get("with_df_per_s"):
            check(
                f"slacklab ahead of slack_sdk websockets incl. DataFrame ({load})",
                r["with_df_per_s"] > sdk["with_df_per_s"] if valid(r, sdk) else None,
                f"{r['with_df_per_s']:,.0f} vs {sdk['with_df_per_s']:,.0f} events/s",
            )
        for name, what in (("slacklab-ackpath", "store stubbed"), ("slacklab-nojournal", "no journal, store stubbed")):
            diag = by.get((name, load))
            if diag is not None and diag.get("vs_bare") is not None:
                check(
                    f"(diagnostic) ack path, {what}, vs bare ({load})",
                    None,
                    f"{diag['vs_bare']:.2f}x events/s; CPU per event {diag.get('cpu_vs_bare', float('nan')):.2f}x bare",
                )
        check(
            f"zero loss ({load})",
            r.get("lost") == 0 and r.get("unacked") == 0,
            f"lost {r.get('lost')}, unacked {r.get('unacked')}",
        )
    for load, limit in (("steady", 5.0), ("busy", 20.0)):
        mine = by.get(("slacklab", load))
        if mine and mine.get("ack_p99_ms") is not None:
            r, bare = mine, by.get(("bare", load)) or {}
            check(
                f"slacklab ack p99 <= {limit:g} ms ({load} {args.rate:g}/s)",
                r["ack_p99_ms"] <= limit,
                f"{r['ack_p99_ms']:.2f} ms (bare {bare.get('ack_p99_ms') or float('nan'):.2f} ms)",
            )
    cols = [
        "client",
        "valid",
        "events_per_s",
        "vs_bare",
        "with_df_per_s",
        "ack_p50_ms",
        "ack_p99_ms",
        "ack_max_ms",
        "unacked",
        "lost",
        "duplicated",
        "cpu_us_per_event",
        "cpu_vs_bare",
        "server_cpu",
        "post_s",
        "peak_mb",
    ]
    md = [
        "Listener throughput and ack latency against a lean Slack stand-in (pre-built frames, acks only "
        "counted; in the parent process), each client in a fresh child process. Ratios are against the "
        "`bare` websockets client of the same invocation. A row whose stand-in used more than "
        f"{SATURATED} of a core is marked invalid and counts towards no target.\n",
        f"Loads: flood {args.flood:,} envelopes at once; closed loop {args.closed:,} envelopes with "
        f"{args.in_flight} in flight; steady {args.rate:g}/s for {args.seconds:g} s; busy = steady while "
        "the client's main thread runs a pure-Python loop.\n",
        "## Targets\n",
        table(checks, ["target", "result", "measured"]),
        "",
    ]
    for load in LOADS:
        part = [r for r in rows if r["load"] == load]
        if part:
            md += [f"## {load}\n", table(part, cols + (["main_thread_kept"] if load == "busy" else [])), ""]
    md += ["## Header decoders (the ack path's only parse)\n", table(dec, ["decoder", "us_per_frame", "vs_json"]), ""]
    errors = [r for r in rows if r.get("error")]
    if errors:
        md += ["## Errors\n", table(errors, ["client", "load", "error"]), ""]
    md.append(NOTES)
    data = {"args": vars(args), "rows": rows, "busy_baseline": baseline, "targets": checks, "decoders": dec}
    write_results(args.name, data, "\n".join(md))
    print("\n".join(md[:5]))


NOTES = """## Columns

- `valid`: the stand-in's CPU share stayed at or under 0.85 of a core (else the server set the pace).
- `events_per_s`: acks / (last ack - first send), on the stand-in's clock; `vs_bare`: as a ratio of `bare`.
- `with_df_per_s`: the same, counting the DataFrame build after the run (`post_s`) as part of the work.
- `ack_*_ms` (steady, busy): ack received - frame sent, per envelope, on the stand-in's clock.
- `unacked`: envelopes never acked; `lost`: envelopes the client never stored; `duplicated`: extra rows.
- `cpu_us_per_event` / `cpu_vs_bare`: the client process's CPU time per acked envelope (does not depend
  on the stand-in's pace), and as a ratio of `bare`'s.
- `server_cpu`: CPU seconds / wall seconds of the stand-in's process during the run.
- `post_s`: after the run, `pandas.json_normalize` (slack_sdk) or `capture.deliveries()` (slacklab).
- `peak_mb`: the child's peak RSS minus its RSS after imports (MiB).
- `main_thread_kept` (busy): the busy loop's rate next to the client, as a ratio of the loop alone.
"""


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--flood", type=int, default=20000, help="envelopes in the open-loop flood")
    p.add_argument("--closed", type=int, default=20000, help="envelopes in the closed loop")
    p.add_argument("--in-flight", type=int, default=100, help="closed loop: envelopes outstanding")
    p.add_argument("--rate", type=float, default=500.0, help="steady/busy: envelopes per second")
    p.add_argument("--seconds", type=float, default=3.0, help="steady/busy: duration")
    p.add_argument("--timeout", type=float, default=8.0, help="flood/closed: give up on a client after this")
    p.add_argument("--clients", default=",".join(CLIENTS), help="comma-separated: " + ", ".join(CLIENTS))
    p.add_argument("--loads", default=",".join(LOADS), help="comma-separated: " + ", ".join(LOADS))
    p.add_argument("--quick", action="store_true", help="small loads (flood and closed 5,000, 2 s steady)")
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--api-url", help=argparse.SUPPRESS)
    p.add_argument("--token", help=argparse.SUPPRESS)
    p.add_argument("--busy", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--switch-interval", type=float, default=None, help=argparse.SUPPRESS)
    p.add_argument("--name", default="listener", help="results file name (results/<name>.md)")
    args = p.parse_args()
    if args.child:
        child(args)
        return
    if args.quick:
        args.flood, args.closed, args.seconds = 5000, 5000, 2.0
    args.clients = [c for c in args.clients.split(",") if c]
    args.loads = [x for x in args.loads.split(",") if x]
    parent(args)


if __name__ == "__main__":
    main()
