"""Rebuild the sample captures in ``data/``: one seeded scenario, captured over Socket Mode and HTTP at once.

Run from the repository root (about 25 seconds; the scenario plays in real time
so that ``event_time`` and ``received_at`` are close and latency means something)::

    .venv/bin/python data/make_samples.py

It plays ``build_scenario(seed=42, events=80, duration=20)`` with slacklab's
own simulators over loopback — nothing touches Slack — and writes:

==========================  ===============================================================
``sample_socket.jsonl``     the Socket Mode listener's journal (``slacklab.load``)
``sample_http.jsonl``       the HTTP receiver's raw request log (``slacklab.load``)
``sample_http.har``         the same HTTP requests as a HAR 1.2 file, shaped like mitmproxy's
``sample_truth.json``       what the simulators did: the ground truth to check a comparison against
==========================  ===============================================================

Teaching faults played on purpose (all listed in ``sample_truth.json``):

* Socket Mode: one ``disconnect`` ``refresh_requested`` halfway (the listener
  reconnects without a gap);
* HTTP: an event and a slash command Slack "never sends" (``drop``); two slow
  answers (3.3 s, past Slack's 3 s rule) that come back as ``http_timeout``
  retries; one 500 retried as ``http_error``; one 500 with
  ``X-Slack-No-Retry: 1`` (not retried); and one forged request (body altered
  after signing) that the receiver refuses with 401.

Every secret is fake: the HTTP side signs with
``slacklab.sim.http_sender.FAKE_SIGNING_SECRET`` (``sim-signing-secret-not-real``)
and the Socket Mode token is the simulator's ``xapp-1-A0SIMAPP-0000-SIMULATED``.
Load the pair with::

    import slacklab.comparison.lineup, slacklab.http.logs
    cmp = slacklab.comparison.lineup.compare("data/sample_socket.jsonl", "data/sample_http.har",
                                   signing_secret="sim-signing-secret-not-real")
"""

from __future__ import annotations

import base64
import http.client
import json
import sys
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from slacklab.http.receiver import HttpReceiver, Reply
from slacklab.http.signing import sign
from slacklab.listener import Listener
from slacklab.sim.http_sender import FAKE_SIGNING_SECRET, HttpDelivery
from slacklab.sim.scenario import DEFAULT_WORKSPACE, build_scenario
from slacklab.sim.server import Simulator

HERE = Path(__file__).resolve().parent
SEED, EVENTS, DURATION = 42, 80, 20.0


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat()  # as mitmproxy writes startedDateTime


def _har_entry(record: dict[str, Any], host: str) -> dict[str, Any]:
    """One receiver log record as mitmproxy's ``save.har`` would write the same request."""
    headers = [{"name": k, "value": v} for k, v in record["headers"]]
    content_type = next((v for k, v in record["headers"] if k.lower() == "content-type"), "")
    body = record.get("body")
    if body is None:
        body = base64.b64decode(record["body_b64"]).decode("utf-8", "replace")
    ms = float(record.get("ms") or 0.0)
    return {
        "startedDateTime": _iso(record["t"]),
        "time": ms,
        "request": {
            "method": record["method"],
            "url": f"https://{host}{record['path']}",
            "httpVersion": "HTTP/1.1",
            "cookies": [],
            "headers": headers,
            "queryString": [],
            "headersSize": -1,
            "bodySize": len(body.encode()),
            "postData": {"mimeType": content_type, "text": body},
        },
        "response": {
            "status": record.get("status") or 0,
            "statusText": "",
            "httpVersion": "HTTP/1.1",
            "cookies": [],
            "headers": [],
            "content": {"size": 0, "mimeType": "text/plain"},
            "redirectURL": "",
            "headersSize": -1,
            "bodySize": 0,
        },
        "cache": {},
        "timings": {"send": 0.0, "wait": ms, "receive": 0.0},
    }


def write_har(jsonl: Path, har: Path) -> None:
    """The receiver's log as HAR 1.2 (a tunnel's public host stands in for the loopback one)."""
    records = [json.loads(line) for line in jsonl.read_text(encoding="utf-8").splitlines() if line.strip()]
    doc = {
        "log": {
            "version": "1.2",
            "creator": {"name": "slacklab data/make_samples.py", "version": "1"},
            "pages": [],
            "entries": [_har_entry(r, "slacklab-sample.ngrok.invalid") for r in records],
        }
    }
    har.write_text(json.dumps(doc, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


def _faults(keys: list[str], events: list[int]) -> Any:
    """The HTTP app's misbehaviour on some events' first attempt: a ``respond`` for the receiver."""
    plan = {keys[events[n]]: Reply(delay=3.3) for n in (5, 30)}  # past Slack's 3 s: http_timeout retries
    plan[keys[events[20]]] = Reply(status=500)  # retried as http_error
    plan[keys[events[60]]] = Reply(status=500, headers={"X-Slack-No-Retry": "1"})  # given up at once
    lock = threading.Lock()

    def respond(row: dict[str, Any]) -> Reply | None:
        with lock:
            return plan.pop(row["event_key"], None) if row["retry_attempt"] == 0 else None

    return respond


def _forge(url: str, payload: dict[str, Any]) -> int:
    """POST one request whose body was altered after signing (the receiver must refuse it)."""
    body = json.dumps(payload).encode()
    headers = {"Content-Type": "application/json", **sign(FAKE_SIGNING_SECRET, int(time.time()), body)}
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
    try:
        conn.request("POST", parts.path, body=body + b" ", headers=headers)  # altered after signing
        return conn.getresponse().status
    finally:
        conn.close()


def main() -> int:
    workspace = replace(DEFAULT_WORKSPACE, start_epoch=float(int(time.time()) + 2))
    scenario = build_scenario(seed=SEED, events=EVENTS, duration=DURATION, workspace=workspace)
    items = list(scenario)
    from slacklab.schema import event_key, payload_fields

    keys = []
    for item in items:
        f = payload_fields(item.kind, dict(item.payload))
        keys.append(
            event_key(
                event_id=f.get("event_id"),
                team_id=f.get("team_id"),
                api_app_id=f.get("api_app_id"),
                trigger_id=f.get("trigger_id"),
                envelope_id=None,
            )
            or ""
        )
    events = [n for n, item in enumerate(items) if item.kind == "events_api"]
    others = [n for n, item in enumerate(items) if item.kind != "events_api"]
    dropped = {events[11], others[1]}  # Slack "never sends" these over HTTP
    paths = {
        name: HERE / name
        for name in ("sample_socket.jsonl", "sample_http.jsonl", "sample_http.har", "sample_truth.json")
    }
    for path in paths.values():
        path.unlink(missing_ok=True)
    while time.time() < workspace.start_epoch:  # start both clocks on the scenario's second
        time.sleep(0.01)
    with (
        Simulator(scenario, speed=1.0, seed=SEED) as sim,
        HttpReceiver(
            signing_secret=FAKE_SIGNING_SECRET, log=paths["sample_http.jsonl"], respond=_faults(keys, events)
        ) as http_capture,
    ):
        listener = Listener(sim.app_token, api_url=sim.api_url, journal=paths["sample_socket.jsonl"], seed=SEED)
        socket_capture = listener.start()
        try:
            with HttpDelivery(scenario, http_capture.url, speed=1.0, drop=dropped) as sender:
                time.sleep(DURATION / 2)
                sim.disconnect("refresh_requested")
                forged_status = _forge(http_capture.url, dict(items[0].payload))
                ok = sim.wait_done(timeout=DURATION + 60) and sender.wait_done(timeout=DURATION + 400)
            socket_capture.wait_for(EVENTS, events=True, timeout=10)
        finally:
            listener.stop()
        socket_truth, http_truth = sim.truth, sender.truth
    write_har(paths["sample_http.jsonl"], paths["sample_http.har"])
    truth = {
        "scenario": {"seed": SEED, "events": EVENTS, "duration": DURATION, "start_epoch": workspace.start_epoch},
        "socket": {"summary": socket_truth.summary(), "retries": [d["event_key"] for d in socket_truth.retries]},
        "http": {
            "summary": http_truth.summary(),
            "dropped": list(http_truth.keys("dropped")),
            "failed": list(http_truth.keys("failed")),
            "retried": sorted({a["event_key"] for a in http_truth.attempts if a["retry_attempt"] > 0}),
            "forged_request_status": forged_status,
        },
        "signing_secret": FAKE_SIGNING_SECRET,
    }
    paths["sample_truth.json"].write_text(json.dumps(truth, indent=1) + "\n", encoding="utf-8")
    for path in paths.values():
        path.chmod(0o644)  # samples hold only fake data; the 0600 default is for real captures
    total = sum(p.stat().st_size for p in paths.values())
    print(f"wrote {', '.join(p.name for p in paths.values())}: {total / 1024:.0f} KiB; complete={ok}")
    return 0 if ok and total < 1_000_000 else 1


if __name__ == "__main__":
    sys.exit(main())
