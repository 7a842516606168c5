"""Rebuild ``tests/data/mitmproxy.har``: a HAR written by a real mitmproxy in front of slacklab's receiver.

Run from the repository root, with mitmproxy installed in *another* environment
(it is not a slacklab dependency)::

    python3 -m venv /tmp/mitm && /tmp/mitm/bin/pip install mitmproxy
    .venv/bin/python tests/data/make_mitmproxy_har.py /tmp/mitm/bin/mitmdump

It starts the receiver on 127.0.0.1, ``mitmdump --mode reverse:...`` in front of
it with ``hardump`` set, plays a small seeded scenario through the proxy with
the simulator's signed HTTP side (fake secret ``sim-signing-secret-not-real``),
adds one forged request, stops mitmdump (which writes the HAR on exit) and
copies the HAR here. Every secret in it is fake.
"""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from slacklab.http.receiver import receive_http
from slacklab.http.signing import sign
from slacklab.sim.http_sender import FAKE_SIGNING_SECRET, HttpDelivery
from slacklab.sim.scenario import build_scenario

HERE = Path(__file__).resolve().parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main(mitmdump: str) -> None:
    capture = receive_http(0, signing_secret=FAKE_SIGNING_SECRET)
    backend = capture.url.rsplit("/slack/events", 1)[0]
    port = free_port()
    work = Path(tempfile.mkdtemp())
    har = work / "mitmproxy.har"
    proxy = subprocess.Popen(
        [
            mitmdump,
            "--mode",
            f"reverse:{backend}",
            "--listen-host",
            "127.0.0.1",
            "-p",
            str(port),
            "--set",
            f"hardump={har}",
            "-q",
        ],
        cwd=work,
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        url = f"http://127.0.0.1:{port}/slack/events"
        items = list(build_scenario(seed=9, events=12, duration=2.0))
        with HttpDelivery(items, url, speed=10.0, start=True) as delivery:
            assert delivery.wait_done(timeout=60)
        body = json.dumps(items[0].payload).encode()
        headers = sign(FAKE_SIGNING_SECRET, int(time.time()), body)
        forged = body.replace(b'"event_callback"', b'"event_callback" ')
        request = urllib.request.Request(url, data=forged, headers={**headers, "Content-Type": "application/json"})
        try:
            urllib.request.urlopen(request, timeout=5)
        except urllib.error.HTTPError as exc:
            assert exc.code == 401
    finally:
        proxy.send_signal(signal.SIGINT)
        proxy.wait(timeout=30)
        capture.stop()
    shutil.copy(har, HERE / "mitmproxy.har")
    played = {
        "kinds": [i.kind for i in items],
        "event_ids": [i.payload["event_id"] for i in items if i.kind == "events_api"],
    }
    (HERE / "mitmproxy.expected.json").write_text(json.dumps(played) + "\n", encoding="utf-8")
    print(f"wrote {HERE / 'mitmproxy.har'} ({len(capture)} requests seen by the receiver)")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "mitmdump")
