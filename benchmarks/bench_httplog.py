"""HTTP logs: reading a 100,000-entry HAR and JSON Lines log, and compare() on big captures.

One command::

    .venv/bin/python benchmarks/bench_httplog.py                 # ~3 minutes
    .venv/bin/python benchmarks/bench_httplog.py --compare-rows 1000000   # the full 1M x 1M compare (~10 GB RAM)

Requests are made from scenario payloads (unique ``event_id``/``trigger_id`` each) with the
bodies and headers Slack sends (``slacklab.sim.http_sender.encode_body``), signed with a fake
secret, and written as slacklab's receiver JSON Lines (``HttpLogWriter``) and as a HAR 1.2
file shaped like a proxy's. ``read_http_log`` is timed with the signing secret (every
signature checked) and without it.

Baselines, in the same invocation:

* ``json + loop``: ``json.load`` of the HAR (``json.loads`` per line for JSON Lines) and a
  loop over the entries that pulls each request's method, headers and body out (a JSON
  body is embedded in a JSON Lines record, so that one parse already holds it);
* ``json + loop + body``: the same plus parsing each body that is still text (what any
  reader that fills event columns must do at least).

``compare`` lines up a Socket Mode side and an HTTP side of ``--compare-rows`` deliveries
each (95% of events on both sides by ``event_id``, 2% under other ids matched on content,
the rest on one side only); its baseline is ``pandas.merge`` of the two on ``event_key`` (outer).
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import best_of, recorder, rss_mb, table, verdict, write_results

SECRET = "bench-signing-secret-not-real"
EPOCH = 1767268800.0


def requests(n: int, seed: int = 21) -> list[tuple[float, list[tuple[str, str]], bytes]]:
    """``(captured_at, headers, body)`` for ``n`` signed Slack requests."""
    from slacklab.http.signing import sign
    from slacklab.sim.http_sender import encode_body
    from slacklab.sim.scenario import build_scenario

    items = build_scenario(seed=seed, events=min(n, 4000), duration=600).items
    out = []
    for i in range(n):
        item = items[i % len(items)]
        payload = dict(item.payload)
        payload["event_id" if item.kind == "events_api" else "trigger_id"] = f"Ev{i:010d}"
        body, ctype = encode_body(item.kind, payload)
        at = EPOCH + i / 100.0
        headers = [
            ("Host", "example.ngrok.app"),
            ("User-Agent", "Slackbot 1.0 (+https://api.slack.com/robots)"),
            ("Content-Type", ctype),
            ("Content-Length", str(len(body))),
            *sign(SECRET, int(at), body).items(),
        ]
        out.append((at, headers, body))
    return out


def write_jsonl(path: Path, reqs: list[tuple[float, list[tuple[str, str]], bytes]]) -> None:
    from slacklab.http.logs import HttpLogWriter
    from slacklab.http.request import CapturedRequest

    writer = HttpLogWriter(path)
    for at, headers, body in reqs:
        writer.write(CapturedRequest(at, "POST", "/slack/events", tuple(headers), body, 200, 0.8))
    writer.close()


def write_har(path: Path, reqs: list[tuple[float, list[tuple[str, str]], bytes]]) -> None:
    entries = []
    for at, headers, body in reqs:
        started = datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        entries.append(
            {
                "startedDateTime": started,
                "time": 0.8,
                "request": {
                    "method": "POST",
                    "url": "https://example.ngrok.app/slack/events",
                    "httpVersion": "HTTP/1.1",
                    "cookies": [],
                    "headers": [{"name": k, "value": v} for k, v in headers],
                    "queryString": [],
                    "headersSize": -1,
                    "bodySize": len(body),
                    "postData": {"mimeType": dict(headers)["Content-Type"], "text": body.decode("utf-8")},
                },
                "response": {
                    "status": 200,
                    "statusText": "OK",
                    "httpVersion": "HTTP/1.1",
                    "cookies": [],
                    "headers": [],
                    "content": {"size": 0, "mimeType": "text/plain"},
                    "redirectURL": "",
                    "headersSize": -1,
                    "bodySize": 0,
                },
                "cache": {},
                "timings": {"send": 0, "wait": 0.8, "receive": 0},
            }
        )
    doc = {"log": {"version": "1.2", "creator": {"name": "slacklab-bench", "version": "1"}, "entries": entries}}
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")


def _body_json(body: str) -> Any:
    if body.startswith("{"):
        return json.loads(body)
    from urllib.parse import parse_qs

    form = parse_qs(body)
    return json.loads(form["payload"][0]) if "payload" in form else form


def bare_har(path: Path, parse_body: bool) -> int:
    with open(path, encoding="utf-8") as handle:
        doc = json.load(handle)
    n = 0
    for entry in doc["log"]["entries"]:
        request = entry["request"]
        method, headers, body = request["method"], request["headers"], request["postData"]["text"]
        if parse_body:
            _body_json(body)
        n += bool(method) + len(headers)
    return n


def bare_jsonl(path: Path, parse_body: bool) -> int:
    n = 0
    with open(path, encoding="utf-8") as handle:
        for text in handle:
            record = json.loads(text)
            method, headers, body = record["method"], record["headers"], record.get("body")
            if parse_body and body is not None:  # a JSON body is already parsed: it is embedded
                _body_json(body)
            n += bool(method) + len(headers)
    return n


def compare_frames(n: int) -> tuple[Any, Any]:
    """A socket and an http deliveries DataFrame of ``n`` rows each (see the module docstring)."""
    from slacklab.schema import make_row
    from slacklab.sim.scenario import build_scenario
    from slacklab.table import deliveries_frame, paused_gc

    items = build_scenario(seed=5, events=4000, duration=600).items
    socket_rows, http_rows = [], []

    def socket_row(kind: str, payload: dict[str, Any], t: float, i: int) -> dict[str, Any]:
        return make_row(
            source="socket", kind=kind, payload=payload, received_at=t, connection="c1", envelope_id=f"e{i}", ack_ms=0.4
        )

    def http_row(kind: str, payload: dict[str, Any], t: float) -> dict[str, Any]:
        return make_row(
            source="http",
            kind=kind,
            payload=payload,
            received_at=t + 0.05,
            signature="valid",
            http_status=200,
            response_ms=1.0,
        )

    for i in range(n):
        item = items[i % len(items)]
        payload = dict(item.payload)
        key = "event_id" if item.kind == "events_api" else "trigger_id"
        payload[key] = f"Ev{i:010d}"
        t = EPOCH + i / 300.0
        share = i % 100
        if share < 95 or item.kind != "events_api":  # both sides, the same ids
            socket_rows.append(socket_row(item.kind, payload, t, i))
            http_rows.append(http_row(item.kind, payload, t))
        elif share < 97:  # the same message seen by two apps under different event ids: content match
            socket_rows.append(socket_row(item.kind, payload, t, i))
            http_rows.append(http_row(item.kind, dict(payload, event_id=f"Ew{i:010d}"), t))
        elif share < 99:
            socket_rows.append(socket_row(item.kind, payload, t, i))
        else:
            http_rows.append(http_row(item.kind, payload, t))
    with paused_gc():
        return deliveries_frame(socket_rows), deliveries_frame(http_rows)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--entries", type=int, default=100_000, help="requests in each log")
    p.add_argument("--compare-rows", type=int, default=300_000, help="deliveries on each side of compare()")
    p.add_argument("--skip-compare", action="store_true")
    args = p.parse_args()

    import pandas as pd

    from slacklab.comparison.lineup import compare
    from slacklab.http.logs import read_http_log

    lines: list[dict[str, Any]] = []
    checks: list[dict[str, Any]] = []

    line = recorder(lines, unit="s", width=50)

    reqs = requests(args.entries)
    with tempfile.TemporaryDirectory(prefix="slacklab-bench-") as tmp:
        har, jsonl = Path(tmp) / "log.har", Path(tmp) / "log.jsonl"
        write_har(har, reqs)
        write_jsonl(jsonl, reqs)
        del reqs
        for name, path, bare in (("HAR", har, bare_har), ("JSON Lines", jsonl, bare_jsonl)):
            size = path.stat().st_size / 2**20
            t_bare, _ = best_of(lambda: bare(path, False), 2)
            t_body, _ = best_of(lambda: bare(path, True), 1)
            t_signed, cap = best_of(lambda: read_http_log(path, signing_secret=SECRET), 1)
            t0 = time.perf_counter()
            df = cap.deliveries()
            t_df = time.perf_counter() - t0
            assert len(df) == args.entries and (df["signature"] == "valid").all(), df["signature"].value_counts()
            del cap, df
            gc.collect()
            t_plain, cap = best_of(lambda: read_http_log(path), 1)
            del cap
            gc.collect()
            speed = t_bare / t_signed
            line(
                f"read_http_log {name} ({args.entries:,} entries, {size:,.0f} MiB), signatures checked",
                t_signed,
                t_bare,
                "json + loop",
                f"json + loop + body: {t_body:.2f} s",
            )
            line("  then the first .df (masks and serialises payloads)", t_df, t_bare, "json + loop")
            line(f"read_http_log {name}, no signing secret", t_plain, t_bare, "json + loop")
            checks.append(
                {
                    "target": f"{name}: read_http_log >= 0.7x the speed of json + loop (signatures checked)",
                    "result": verdict(speed >= 0.7),
                    "measured": f"{speed:.2f}x ({t_signed:.2f} s vs {t_bare:.2f} s); "
                    f"vs json + loop + body {t_body / t_signed:.2f}x; "
                    f"without the secret {t_bare / t_plain:.2f}x",
                }
            )
    if not args.skip_compare:
        n = args.compare_rows
        t0 = time.perf_counter()
        a, b = compare_frames(n)
        made = time.perf_counter() - t0
        rss = rss_mb()
        t_merge, _ = best_of(
            lambda: pd.merge(
                a[["event_key", "received_at"]], b[["event_key", "received_at"]], on="event_key", how="outer"
            ),
            1,
        )
        t_cmp, result = best_of(lambda: compare(a, b), 1)
        s = result.summary
        line(
            f"compare() {len(a):,} x {len(b):,} deliveries",
            t_cmp,
            t_merge,
            "pd.merge on event_key (outer)",
            f"matched {s.loc['matched', 'socket']:,} (content {s.loc['matched on content', 'socket']:,}); "
            f"frames built in {made:.0f} s; RSS {rss:,.0f} MiB before compare",
        )
        checks.append(
            {
                "target": f"compare on {n:,} x {n:,} rows",
                "result": "measured",
                "measured": f"{t_cmp:.1f} s ({t_cmp / t_merge:.1f}x a bare outer merge on event_key)",
            }
        )
    md = [
        f"HTTP request logs of {args.entries:,} signed Slack requests (events, slash commands, interactivity), "
        "and compare() on two big captures. Every line has a baseline measured in the same invocation; "
        "`ratio` = time / baseline time.\n",
        "## Targets\n",
        table(checks, ["target", "result", "measured"]),
        "",
        "## Measurements\n",
        table(lines, ["measurement", "time_s", "baseline", "baseline_s", "ratio", "note"]),
        "",
    ]
    write_results("httplog", {"args": vars(args), "measurements": lines, "targets": checks}, "\n".join(md))
    print("\n".join(md[:3]))


if __name__ == "__main__":
    main()
