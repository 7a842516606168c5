"""Listener throughput and ack latency on the simulator: slacklab vs a bare websockets ceiling vs slack_sdk.

One command::

    .venv/bin/python benchmarks/bench_listener.py            # ~3-4 minutes on 2 cores
    .venv/bin/python benchmarks/bench_listener.py --quick    # smaller loads, ~1 minute

How it is measured
------------------
* The **simulator** (``slacklab.Simulator``, Slack's side) runs in *this* process, on
  127.0.0.1. Each client runs in a **fresh child process**, so the two never share a
  GIL (Slack is another machine, after all), every client starts from the same state,
  and the child's peak memory is its own.
* Times come from the simulator's ground truth (``sim.truth.deliveries``: ``sent_at``
  when Slack's side dispatched an envelope, ``acked_at`` when its ack came back):
  events/s = acked deliveries / (last ack - first send); ack latency = acked_at - sent_at.
* Clients:
  ``bare``      a bare ``websockets`` asyncio client that only ``json.loads`` each frame and
                acks it (the practical ceiling);
  ``sdk-builtin``, ``sdk-websocket-client``, ``sdk-websockets``
                slack_sdk's ``SocketModeClient`` variants (``slack_sdk.socket_mode.builtin``,
                ``.websocket_client``, ``.websockets``; the last needs ``aiohttp`` for its
                ``AsyncWebClient``), pointed at the simulator with
                ``WebClient(base_url=sim.api_url)``: a request listener acks and appends the
                payload to a list; ``pandas.json_normalize`` runs after the run (timed apart);
  ``slacklab``  ``slacklab.Listener`` with its journal on (journal -> ack -> store per
                frame); ``capture.deliveries()`` runs after the run (timed apart).
* Loads: ``flood`` (every envelope released at once, ``speed=None``), ``closed``
  (``max_in_flight`` envelopes outstanding, the next one sent as each ack arrives),
  ``steady`` (evenly spaced at ``--rate``/s, real time) and ``busy`` (steady, while the
  client's main thread runs a CPU-bound pure-Python loop, like a busy notebook cell).
  Flood and closed use a long ack timeout (120 s) so throughput is not polluted by
  redeliveries of envelopes that were only queued on Slack's side; steady and busy use
  Slack's 3 s.
* The simulator's own CPU use is reported (``sim_cpu``: CPU seconds / wall seconds of
  this process, whose main thread only waits); near 1.0 means the simulator, not the
  client, set the pace. The client's CPU time per event is reported too, which does not
  depend on the simulator's pace.

Every headline figure is a ratio against the ``bare`` client run in the same invocation.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import peak_rss_mb, percentile, rss_mb, table, verdict, write_results

CLIENTS = ("bare", "sdk-builtin", "sdk-websocket-client", "sdk-websockets", "slacklab")
LOADS = ("flood", "closed", "steady", "busy")


# =================================================================== child side


def _busy_chunk() -> int:
    s = 0
    for i in range(5000):
        s += i * i
    return s


def _keys_of(payload_list: list[tuple[str, dict[str, Any]]]) -> list[str]:
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
    """slack_sdk's threaded SocketModeClient (builtin or websocket_client variant)."""

    def __init__(self, api_url: str, token: str, variant: str) -> None:
        from slack_sdk import WebClient
        from slack_sdk.socket_mode.response import SocketModeResponse

        if variant == "builtin":
            from slack_sdk.socket_mode.builtin import SocketModeClient
        else:
            from slack_sdk.socket_mode.websocket_client import SocketModeClient
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
        await client.connect()
        self._ready.set()
        await self._stop.wait()
        await client.close()

    def stop(self) -> dict[str, Any]:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(15)
        return {"received": len(self.payloads)}

    finish = _SdkSync.finish


class _Slacklab:
    """slacklab.Listener with its journal on."""

    def __init__(self, api_url: str, token: str) -> None:
        import tempfile

        from slacklab.listener import Listener

        self._dir = tempfile.mkdtemp(prefix="slacklab-bench-")
        self.listener = Listener(token, api_url=api_url, journal=Path(self._dir) / "journal.jsonl")

    def start(self) -> None:
        self.listener.start()

    def stop(self) -> dict[str, Any]:
        self.listener.stop()
        return {"received": len(self.listener.capture)}

    def finish(self) -> dict[str, Any]:
        import shutil

        t0 = time.perf_counter()
        df = self.listener.capture.deliveries()
        post = time.perf_counter() - t0
        keys = df["event_key"].tolist()
        journal_mb = (Path(self._dir) / "journal.jsonl").stat().st_size / 2**20
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
        client = _SdkSync(args.api_url, args.token, "builtin")
    elif args.child == "sdk-websocket-client":
        client = _SdkSync(args.api_url, args.token, "websocket_client")
    elif args.child == "sdk-websockets":
        client = _SdkAsync(args.api_url, args.token)
    elif args.child == "slacklab":
        client = _Slacklab(args.api_url, args.token)
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


# ================================================================== parent side


@dataclasses.dataclass
class Load:
    name: str
    scenario: Any
    sim_kwargs: dict[str, Any]
    busy: bool = False
    timeout: float = 60.0


def make_loads(args: argparse.Namespace) -> list[Load]:
    from slacklab.sim.scenario import Scenario, build_scenario

    loads = []
    if "flood" in args.loads:
        loads.append(
            Load(
                "flood", build_scenario(seed=1, events=args.flood, duration=0.0), {"speed": None, "ack_timeout": 120.0}
            )
        )
    if "closed" in args.loads:
        loads.append(
            Load(
                "closed",
                build_scenario(seed=2, events=args.closed, duration=0.0),
                {"speed": None, "ack_timeout": 120.0, "max_in_flight": args.in_flight},
            )
        )
    n = int(args.rate * args.seconds)
    if "steady" in args.loads or "busy" in args.loads:
        base = build_scenario(seed=3, events=n, duration=args.seconds)
        even = Scenario.from_items(dataclasses.replace(item, at=i / args.rate) for i, item in enumerate(base))
        if "steady" in args.loads:
            loads.append(Load("steady", even, {"speed": 1.0, "ack_timeout": 3.0}, timeout=args.seconds + 60))
        if "busy" in args.loads:
            loads.append(Load("busy", even, {"speed": 1.0, "ack_timeout": 3.0}, busy=True, timeout=args.seconds + 60))
    return loads


SWITCH_INTERVAL: float | None = None


def _spawn(client: str, api_url: str, token: str, busy: bool) -> subprocess.Popen[str]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", client, "--api-url", api_url, "--token", token]
    if SWITCH_INTERVAL:
        cmd += ["--switch-interval", str(SWITCH_INTERVAL)]
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
    out, _ = proc.communicate("stop\n", timeout=120)
    lines = [ln for ln in out.splitlines() if ln.startswith("{")]
    return json.loads(lines[-1]) if lines else {"error": "no result"}


def busy_baseline(seconds: float) -> dict[str, Any]:
    """The busy loop alone (no client) for ``seconds``: its chunks/s is the main thread's baseline."""
    proc = _spawn("none", "-", "-", busy=True)
    time.sleep(seconds)
    return _finish(proc)


def run_one(client: str, load: Load) -> dict[str, Any]:
    from slacklab.sim.server import Simulator

    sim = Simulator(load.scenario, ping_interval=None, seed=0, **load.sim_kwargs)
    try:
        proc = _spawn(client, sim.api_url, sim.app_token, load.busy)
        cpu0, wall0 = time.process_time(), time.perf_counter()
        done = sim.wait_done(timeout=load.timeout)
        sim_cpu = (time.process_time() - cpu0) / max(1e-9, time.perf_counter() - wall0)
        time.sleep(0.05)  # let the last store happen after the last ack
        res = _finish(proc)
        truth = sim.truth
    finally:
        sim.close()
    deliveries = truth.deliveries
    acked = [d for d in deliveries if d["acked_at"] is not None]
    lat = [(d["acked_at"] - d["sent_at"]) * 1000.0 for d in acked]
    span = (max(d["acked_at"] for d in acked) - min(d["sent_at"] for d in deliveries)) if acked else 0.0
    summary = truth.summary()
    keys = res.pop("keys", None)
    events = set(truth.events)
    row: dict[str, Any] = {
        "client": client,
        "load": load.name,
        "done": done,
        "events": len(events),
        "deliveries": len(deliveries),
        "acked": len(acked),
        "events_per_s": len(acked) / span if span > 0 else None,
        "ack_p50_ms": percentile(lat, 0.5),
        "ack_p99_ms": percentile(lat, 0.99),
        "ack_max_ms": max(lat) if lat else None,
        "unacked": summary["unacked_events"],
        "redelivered": summary["retries"],
        "sim_cpu": sim_cpu,
        **{k: v for k, v in res.items()},
    }
    if keys is not None:
        got = [k for k in keys if k]
        row["stored"] = len(got)
        row["lost"] = len(events - set(got))
        row["duplicated"] = len(got) - len(set(got))
    else:  # the bare client stores nothing: lost = never acked
        row["stored"] = None
        row["lost"] = summary["unacked_events"]
        row["duplicated"] = None
    if row.get("cpu_s") is not None and len(acked) and not load.busy:
        row["cpu_us_per_event"] = row["cpu_s"] * 1e6 / len(acked)
    return row


def parent(args: argparse.Namespace) -> None:
    loads = make_loads(args)
    rows: list[dict[str, Any]] = []
    baseline = None
    for load in loads:
        if load.busy:
            baseline = busy_baseline(min(args.seconds, 5.0))
            baseline["chunks_per_s"] = baseline["busy_chunks"] / max(1e-9, baseline["busy_s"])
            print(f"busy loop alone: {baseline['chunks_per_s']:.0f} chunks/s", flush=True)
        for client in args.clients:
            t0 = time.perf_counter()
            try:
                row = run_one(client, load)
            except Exception as exc:
                row = {"client": client, "load": load.name, "error": f"{type(exc).__name__}: {exc}"}
            if load.busy and baseline and row.get("busy_s"):
                row["main_thread_kept"] = (row["busy_chunks"] / row["busy_s"]) / baseline["chunks_per_s"]
            rows.append(row)
            print(
                f"{load.name:7s} {client:22s} {time.perf_counter() - t0:5.1f}s  "
                + json.dumps(
                    {
                        k: (round(v, 3) if isinstance(v, float) else v)
                        for k, v in row.items()
                        if k
                        in (
                            "events_per_s",
                            "ack_p50_ms",
                            "ack_p99_ms",
                            "ack_max_ms",
                            "unacked",
                            "lost",
                            "duplicated",
                            "peak_mb",
                            "sim_cpu",
                            "cpu_us_per_event",
                            "error",
                            "main_thread_kept",
                            "gc_max_ms",
                            "gc_runs",
                        )
                    }
                ),
                flush=True,
            )
    report(args, rows, baseline)


def report(args: argparse.Namespace, rows: list[dict[str, Any]], baseline: dict[str, Any] | None) -> None:
    by = {(r["client"], r["load"]): r for r in rows}
    for r in rows:
        bare = by.get(("bare", r["load"]))
        if bare and r.get("events_per_s") and bare.get("events_per_s"):
            r["vs_bare"] = r["events_per_s"] / bare["events_per_s"]
        if bare and r.get("cpu_us_per_event") and bare.get("cpu_us_per_event"):
            r["cpu_vs_bare"] = r["cpu_us_per_event"] / bare["cpu_us_per_event"]
    checks = []

    def check(name: str, ok: bool | None, detail: str) -> None:
        checks.append({"target": name, "result": verdict(ok), "measured": detail})

    for load in ("flood", "closed"):
        r = by.get(("slacklab", load))
        if r and "vs_bare" in r:
            check(
                f"slacklab >= 0.6x bare events/s ({load})",
                r["vs_bare"] >= 0.6,
                f"{r['vs_bare']:.2f}x ({r['events_per_s']:,.0f} vs {by[('bare', load)]['events_per_s']:,.0f}/s)",
            )
            check(
                f"zero loss ({load})",
                r.get("lost") == 0 and r.get("unacked") == 0,
                f"lost {r.get('lost')}, unacked {r.get('unacked')}",
            )
    for load, limit in (("steady", 5.0), ("busy", 20.0)):
        r = by.get(("slacklab", load))
        if r and r.get("ack_p99_ms") is not None:
            bare = by.get(("bare", load), {})
            check(
                f"slacklab ack p99 <= {limit:g} ms ({load} {args.rate:g}/s)",
                r["ack_p99_ms"] <= limit,
                f"{r['ack_p99_ms']:.2f} ms (bare {bare.get('ack_p99_ms') or float('nan'):.2f} ms; "
                f"ratio {r['ack_p99_ms'] / bare['ack_p99_ms'] if bare.get('ack_p99_ms') else float('nan'):.2f}x)",
            )
    cols = [
        "client",
        "events_per_s",
        "vs_bare",
        "ack_p50_ms",
        "ack_p99_ms",
        "ack_max_ms",
        "unacked",
        "lost",
        "duplicated",
        "redelivered",
        "peak_mb",
        "cpu_us_per_event",
        "cpu_vs_bare",
        "sim_cpu",
        "post_s",
    ]
    md = [
        "Listener throughput and ack latency against the offline simulator (Slack's side in the parent "
        "process, each client in a fresh child process). Ratios are against the `bare` websockets client "
        "of the same invocation. Ack times are Slack-side ground truth (`acked_at - sent_at`).\n",
        f"Loads: flood {args.flood:,} envelopes at once; closed loop {args.closed:,} envelopes with "
        f"{args.in_flight} in flight; steady {args.rate:g}/s for {args.seconds:g} s; busy = steady while "
        "the client's main thread runs a pure-Python loop. Client switch interval: "
        f"{args.switch_interval or 'Python default (0.005 s)'}.\n",
        "## Targets\n",
        table(checks, ["target", "result", "measured"]),
        "",
    ]
    for load in LOADS:
        part = [r for r in rows if r["load"] == load]
        if not part:
            continue
        c = cols + (["main_thread_kept"] if load == "busy" else [])
        md += [f"## {load}\n", table(part, c), ""]
    errors = [r for r in rows if r.get("error")]
    if errors:
        md += ["## Errors\n", table(errors, ["client", "load", "error"]), ""]
    md.append(NOTES)
    write_results(
        args.name, {"args": vars(args), "rows": rows, "busy_baseline": baseline, "targets": checks}, "\n".join(md)
    )
    print("\n".join(md[:6]))


NOTES = """## Columns

- `events_per_s`: acked deliveries / (last ack - first send), from the simulator's ground truth.
- `vs_bare`: events/s as a ratio of the `bare` client's in the same load.
- `ack_*_ms`: `acked_at - sent_at` per delivery. In the flood, `sent_at` is when the simulator queued
  the envelope (all at once), so flood latencies are queueing time, not a client property.
- `unacked`: events Slack's side never saw acked; `redelivered`: redeliveries Slack's side sent.
- `lost`: events the client never stored (for `bare`, which stores nothing: never acked).
- `duplicated`: stored deliveries beyond one per event.
- `peak_mb`: the child's peak RSS minus its RSS after imports (MiB).
- `cpu_us_per_event` / `cpu_vs_bare`: the client process's CPU time per acked event, and as a ratio of
  `bare`'s; unlike events/s this does not depend on the simulator's pace.
- `sim_cpu`: CPU seconds / wall seconds of the simulator's process during the run (its main thread only
  waits): near 1.0 means the simulator was the bottleneck and events/s measure it as much as the client.
- `post_s`: after the run, `pandas.json_normalize` of the collected payloads (slack_sdk clients) or
  `capture.deliveries()` (slacklab).
- `main_thread_kept` (busy): the busy loop's rate next to the client, as a ratio of the loop alone.
"""


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--flood", type=int, default=20000, help="envelopes in the open-loop flood")
    p.add_argument("--closed", type=int, default=10000, help="envelopes in the closed loop")
    p.add_argument("--in-flight", type=int, default=100, help="closed loop: envelopes outstanding")
    p.add_argument("--rate", type=float, default=500.0, help="steady/busy: envelopes per second")
    p.add_argument("--seconds", type=float, default=10.0, help="steady/busy: duration")
    p.add_argument("--clients", default=",".join(CLIENTS), help="comma-separated: " + ", ".join(CLIENTS))
    p.add_argument("--loads", default=",".join(LOADS), help="comma-separated: " + ", ".join(LOADS))
    p.add_argument("--quick", action="store_true", help="small loads (flood 5,000, closed 3,000, 4 s steady)")
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--api-url", help=argparse.SUPPRESS)
    p.add_argument("--token", help=argparse.SUPPRESS)
    p.add_argument("--busy", action="store_true", help=argparse.SUPPRESS)
    p.add_argument(
        "--switch-interval",
        type=float,
        default=None,
        help="sys.setswitchinterval() in each client process (default: Python's 0.005 s)",
    )
    p.add_argument("--name", default="listener", help="results file name (results/<name>.md)")
    args = p.parse_args()
    if args.child:
        child(args)
        return
    if args.quick:
        args.flood, args.closed, args.seconds = 5000, 3000, 4.0
    global SWITCH_INTERVAL
    SWITCH_INTERVAL = args.switch_interval
    args.clients = [c for c in args.clients.split(",") if c]
    args.loads = [x for x in args.loads.split(",") if x]
    if "sdk-websockets" in args.clients:
        try:
            import aiohttp  # noqa: F401
        except ImportError:
            print("note: slack_sdk's websockets client needs aiohttp (pip install aiohttp); skipping it")
            args.clients.remove("sdk-websockets")
    parent(args)


if __name__ == "__main__":
    main()
