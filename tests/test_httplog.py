"""HTTP log readers: HAR (both header shapes, .zhar, WebSocket sessions), ngrok exports, slacklab JSON Lines."""

from __future__ import annotations

import base64
import json
import os
import stat
import warnings
import zlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from slacklab.errors import LogFormatError
from slacklab.http.logs import HttpLogWriter, read_http_log
from slacklab.http.request import CapturedRequest, classify_body, parse_request
from slacklab.http.signing import sign
from slacklab.journal import JournalWriter
from slacklab.loader import load as load_log

from .helpers import block_action_payload, envelope, event_payload, slash_payload

SECRET = "sim-signing-secret-not-real"
T0 = 1_700_000_000
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"


# ------------------------------------------------------------------ builders


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat()


def signed(
    body: bytes, ts: int = T0, ctype: str = JSON, *, secret: str = SECRET, extra: tuple[tuple[str, str], ...] = ()
) -> list[tuple[str, str]]:
    return [
        ("Content-Type", ctype),
        ("User-Agent", "Slackbot 1.0 (+https://api.slack.com/robots)"),
        *sign(secret, ts, body).items(),
        *extra,
    ]


def har_entry(
    body: bytes,
    headers: list[tuple[str, str]],
    *,
    started: float = T0,
    status: int = 200,
    time_ms: float = 3.5,
    pairs: bool = False,
    method: str = "POST",
    url: str = "https://sim.ngrok.invalid/slack/events",
    params: bool = False,
    text: bool = True,
) -> dict[str, Any]:
    """One entry shaped like mitmproxy's savehar output."""
    hdrs: list[Any] = [[k, v] for k, v in headers] if pairs else [{"name": k, "value": v} for k, v in headers]
    request: dict[str, Any] = {
        "method": method,
        "url": url,
        "httpVersion": "HTTP/1.1",
        "cookies": [],
        "headers": hdrs,
        "queryString": [],
        "headersSize": 200,
        "bodySize": len(body),
    }
    if method == "POST":
        post: dict[str, Any] = {"mimeType": dict(headers).get("Content-Type", "")}
        if text:
            post["text"] = body.decode()
        if params:
            from urllib.parse import parse_qsl

            post["params"] = [{"name": k, "value": v} for k, v in parse_qsl(body.decode(), keep_blank_values=True)]
        request["postData"] = post
    return {
        "startedDateTime": iso(started),
        "time": time_ms,
        "request": request,
        "response": {
            "status": status,
            "statusText": "OK",
            "httpVersion": "HTTP/1.1",
            "cookies": [],
            "headers": [],
            "content": {"size": 0, "mimeType": "text/plain", "text": ""},
            "redirectURL": "",
            "headersSize": 50,
            "bodySize": 0,
        },
        "cache": {},
        "timings": {"send": 0.1, "wait": time_ms - 0.2, "receive": 0.1},
    }


def har(entries: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "log": {
            "version": "1.2",
            "creator": {"name": "mitmproxy exporthar", "version": "0.1"},
            "pages": [],
            "entries": entries,
        }
    }


def write_json(path: Path, doc: Any) -> Path:
    path.write_text(json.dumps(doc, indent=2), encoding="utf-8")
    return path


def event_body(event_id: str = "Ev1", **kw: Any) -> bytes:
    return json.dumps(event_payload(event_id, **kw)).encode()


def raw_request(
    body: bytes, headers: list[tuple[str, str]], method: str = "POST", target: str = "/slack/events"
) -> str:
    head = f"{method} {target} HTTP/1.1\r\nHost: sim.ngrok.invalid\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers) + f"Content-Length: {len(body)}\r\n\r\n"
    return base64.b64encode(head.encode("latin-1") + body).decode()


def ngrok_item(
    body: bytes,
    headers: list[tuple[str, str]],
    *,
    started: float = T0,
    status: int = 200,
    duration_ns: int = 2_500_000,
    method: str = "POST",
) -> dict[str, Any]:
    return {
        "uri": "/api/requests/http/abc",
        "id": "abc",
        "tunnel_name": "command_line",
        "remote_addr": "203.0.113.9",
        "start": iso(started),
        "duration": duration_ns,
        "request": {
            "method": method,
            "proto": "HTTP/1.1",
            "headers": {k: [v] for k, v in headers},
            "uri": "/slack/events",
            "raw": raw_request(body, headers, method),
        },
        "response": {"status": f"{status} OK", "status_code": status, "proto": "HTTP/1.1", "headers": {}, "raw": ""},
    }


def request(
    body: bytes,
    headers: list[tuple[str, str]],
    at: float = T0,
    method: str = "POST",
    status: int | None = 200,
    ms: float | None = 1.0,
) -> CapturedRequest:
    return CapturedRequest(at, method, "/slack/events", tuple(headers), body, status, ms)


def load_quiet(path: Path, secret: str | None = SECRET):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return read_http_log(path, signing_secret=secret)


# ----------------------------------------------------------------------- HAR


class TestHar:
    @pytest.mark.parametrize("pairs", [False, True], ids=["name-value-objects", "name-value-pairs"])
    def test_event_callback_both_header_shapes(self, tmp_path: Path, pairs: bool) -> None:
        body = event_body("Ev1", text="hello")
        path = write_json(tmp_path / "a.har", har([har_entry(body, signed(body), started=T0 + 0.25, pairs=pairs)]))
        cap = load_quiet(path)
        df = cap.df
        assert len(df) == 1 and cap.state == "loaded" and cap.source == "http"
        row = df.iloc[0]
        assert (row.source, row.kind, row.event_id, row.event_type, row.text) == (
            "http",
            "events_api",
            "Ev1",
            "message",
            "hello",
        )
        assert row.signature == "valid"
        assert row.http_status == 200 and row.response_ms == pytest.approx(3.5)
        assert row.received_at.timestamp() == pytest.approx(T0 + 0.25)
        assert pd.isna(row.connection) and pd.isna(row.envelope_id)  # missing text is NaN in every str column

    def test_zhar_is_inflated(self, tmp_path: Path) -> None:
        body = event_body("Ev2")
        doc = har([har_entry(body, signed(body))])
        path = tmp_path / "a.zhar"
        path.write_bytes(zlib.compress(json.dumps(doc).encode(), 9))
        assert list(load_quiet(path).df.event_id) == ["Ev2"]

    def test_truncated_zhar_is_a_clear_error(self, tmp_path: Path) -> None:
        data = zlib.compress(json.dumps(har([])).encode() * 50, 9)
        path = tmp_path / "cut.zhar"
        path.write_bytes(data[: len(data) // 2])
        with pytest.raises(LogFormatError, match="cut.zhar.*cut short"):
            read_http_log(path)

    def test_real_proxy_har_of_slacks_published_request(self, tmp_path: Path) -> None:
        # Slack's own signed example (reference §4) as mitmproxy saves it: text *and* params.
        from .test_signing import SLACK_BODY, SLACK_HEADERS, SLACK_SECRET, SLACK_TS

        headers = [("Content-Type", FORM), *SLACK_HEADERS.items()]
        entry = har_entry(SLACK_BODY, headers, started=SLACK_TS + 1, params=True)
        cap = load_quiet(write_json(tmp_path / "slack.har", har([entry])), SLACK_SECRET)
        row = cap.df.iloc[0]
        assert (row.kind, row.event_type, row.trigger_id, row.signature) == (
            "slash_commands",
            "/webhook-collect",
            "398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c",
            "valid",
        )
        assert pd.isna(row.text) or row.text == ""
        assert SLACK_SECRET not in repr(cap) and "xyzz0WbapA4vBCDEFasx0q6G" not in cap.df.to_string()

    def test_params_only_body_is_rebuilt_and_marked_unverifiable_on_mismatch(self, tmp_path: Path) -> None:
        body = b"command=%2Fdeploy&text=api%20staging&trigger_id=1.2.abc&team_id=T1&user_id=U1&channel_id=C1"
        entry = har_entry(body, signed(body, ctype=FORM), params=True, text=False)
        row = load_quiet(write_json(tmp_path / "p.har", har([entry]))).df.iloc[0]
        assert (row.kind, row.text, row.signature) == ("slash_commands", "api staging", "unverifiable")
        same = urlencode({"command": "/deploy", "text": "api staging", "trigger_id": "1.2.abc"}).encode()
        entry = har_entry(same, signed(same, ctype=FORM), params=True, text=False)
        assert load_quiet(write_json(tmp_path / "q.har", har([entry]))).df.iloc[0].signature == "valid"

    def test_websocket_session_loads_as_socket_deliveries(self, tmp_path: Path) -> None:
        hello = json.dumps(
            {
                "type": "hello",
                "num_connections": 1,
                "connection_info": {"app_id": "A1"},
                "debug_info": {"host": "applink-sim"},
            }
        )
        env = envelope(event_payload("Ev5"), envelope_id="env-5")
        ack = json.dumps({"envelope_id": "env-5"})
        entry = har_entry(b"", [], method="GET", url="wss://wss-primary.slack.invalid/link/?ticket=secret-ticket")
        entry["_resourceType"] = "websocket"
        entry["_webSocketMessages"] = [
            {"type": "receive", "time": T0 + 0.1, "opcode": 1, "data": hello},
            {"type": "receive", "time": T0 + 1.0, "opcode": 1, "data": env},
            {"type": "send", "time": T0 + 1.004, "opcode": 1, "data": ack},
            {
                "type": "receive",
                "time": T0 + 2.0,
                "opcode": 2,
                "data": base64.b64encode(envelope(slash_payload("9.9.z"), "env-6", "slash_commands").encode()).decode(),
            },
        ]
        cap = load_quiet(write_json(tmp_path / "ws.har", har([entry])))
        df = cap.df
        assert cap.source == "socket"
        assert list(df.kind) == ["events_api", "slash_commands"]
        assert list(df.source) == ["socket", "socket"] and list(df.connection) == ["ws1", "ws1"]
        assert df.ack_ms.iloc[0] == pytest.approx(4.0, abs=0.01) and df.ack_ms.isna().iloc[1]
        conns = cap.connections()
        assert conns.num_connections.iloc[0] == 1 and conns.close_reason.iloc[0] == "end of the HAR entry"

    def test_kinds_retries_and_special_bodies(self, tmp_path: Path) -> None:
        bodies = [
            (json.dumps({"token": "t", "challenge": "abc", "type": "url_verification"}).encode(), JSON, ()),
            (
                json.dumps(
                    {
                        "token": "t",
                        "type": "app_rate_limited",
                        "team_id": "T1",
                        "minute_rate_limited": 1518467820,
                        "api_app_id": "A1",
                    }
                ).encode(),
                JSON,
                (),
            ),
            (b"ssl_check=1&token=abc", FORM, ()),
            (event_body("Ev7"), JSON, (("X-Slack-Retry-Num", "2"), ("X-Slack-Retry-Reason", "http_timeout"))),
        ]
        entries = [har_entry(b, signed(b, ctype=c, extra=e), started=T0 + i) for i, (b, c, e) in enumerate(bodies)]
        df = load_quiet(write_json(tmp_path / "k.har", har(entries))).df
        assert list(df.kind) == ["url_verification", "app_rate_limited", "ssl_check", "events_api"]
        assert list(df.retry_attempt) == [0, 0, 0, 2]
        assert df.retry_reason.iloc[3] == "http_timeout" and df.event_type.iloc[1] == "app_rate_limited"

    def test_rows_are_in_time_order(self, tmp_path: Path) -> None:
        later, earlier = event_body("Ev-late"), event_body("Ev-early")
        entries = [har_entry(later, signed(later), started=T0 + 5), har_entry(earlier, signed(earlier), started=T0)]
        assert list(load_quiet(write_json(tmp_path / "o.har", har(entries))).df.event_id) == ["Ev-early", "Ev-late"]


class TestFormBodies:
    @pytest.mark.parametrize(
        "text", ["=SUM(1+1)", "+49 30 1234567", "-1, wait", "@here standup", "Grüße 日本語 🚀", "a&b=c", ""]
    )
    def test_slash_command_text_survives_exactly(self, text: str) -> None:
        body = urlencode({**slash_payload("1.2.x"), "text": text}).encode()
        parsed = parse_request(request(body, signed(body, ctype=FORM)), SECRET)
        assert parsed.row is not None
        assert (parsed.row["kind"], parsed.row["signature"]) == ("slash_commands", "valid")
        assert parsed.row["text"] == text

    @pytest.mark.parametrize("quoting", ["percent-20", "plus"])
    def test_interactive_payload_form(self, quoting: str) -> None:
        payload = block_action_payload("3.4.y")
        payload["message"]["text"] = '=HYPERLINK("x") Déployer ?'
        data = json.dumps(payload, ensure_ascii=False)
        body = (f"payload={quote(data)}" if quoting == "percent-20" else urlencode({"payload": data})).encode()
        parsed = parse_request(request(body, signed(body, ctype=FORM)), SECRET)
        row = parsed.row
        assert row is not None
        assert (row["kind"], row["event_type"], row["event_subtype"], row["trigger_id"], row["signature"]) == (
            "interactive",
            "block_actions",
            "approve",
            "3.4.y",
            "valid",
        )
        assert row["text"] == '=HYPERLINK("x") Déployer ?'

    def test_formula_text_is_neutralised_on_export(self, tmp_path: Path) -> None:
        body = urlencode({**slash_payload("1.2.x"), "text": "=cmd|' /C calc'!A0"}).encode()
        cap = load_quiet(write_json(tmp_path / "f.har", har([har_entry(body, signed(body, ctype=FORM))])))
        out = cap.to_csv(tmp_path / "f.csv").read_text(encoding="utf-8")
        assert "'=cmd|" in out and "sim-signing-secret" not in out


class TestVerdictsInLogs:
    def test_valid_forged_stale_missing_unchecked(self, tmp_path: Path) -> None:
        good, forged, stale, bare = (event_body(f"Ev{i}") for i in range(4))
        forged_headers = signed(forged, secret="someone-elses-secret")
        entries = [
            har_entry(good, signed(good), started=T0 + 1),
            har_entry(forged, forged_headers, started=T0 + 2),
            har_entry(stale, signed(stale, ts=T0 - 3600), started=T0 + 3),
            har_entry(bare, [("Content-Type", JSON)], started=T0 + 4),
        ]
        path = write_json(tmp_path / "v.har", har(entries))
        assert list(load_quiet(path).df.signature) == ["valid", "invalid", "stale", "missing"]
        assert list(load_quiet(path, None).df.signature) == ["unchecked"] * 4


class TestNgrok:
    def test_export_with_raw_requests(self, tmp_path: Path) -> None:
        body = event_body("Ev9", text="ngrok'd ✓")
        doc = {
            "uri": "/api/requests/http",
            "requests": [
                ngrok_item(
                    body,
                    signed(body, extra=(("X-Slack-Retry-Num", "1"), ("x-slack-retry-reason", "http_error"))),
                    started=T0 + 1,
                    status=500,
                    duration_ns=4_200_000,
                ),
                ngrok_item(b"", [("Accept", "*/*")], method="GET"),
            ],
        }
        cap = load_quiet(write_json(tmp_path / "ngrok.json", doc))
        row = cap.df.iloc[0]
        assert len(cap) == 1
        assert (row.event_id, row.text, row.signature, row.http_status, row.retry_attempt, row.retry_reason) == (
            "Ev9",
            "ngrok'd ✓",
            "valid",
            500,
            1,
            "http_error",
        )
        assert row.response_ms == pytest.approx(4.2)
        assert "skipped: not a Slack request" in cap.problems().problem.iloc[0]
        assert any("1 request(s) were not Slack's" in n for n in cap.notes)

    def test_chunked_raw_body(self, tmp_path: Path) -> None:
        body = event_body("Ev10")
        head = "POST /slack/events HTTP/1.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        chunked = (
            f"{len(body[:10]):x}\r\n".encode()
            + body[:10]
            + f"\r\n{len(body[10:]):x}\r\n".encode()
            + body[10:]
            + b"\r\n0\r\n\r\n"
        )
        item = ngrok_item(body, [])
        item["request"]["raw"] = base64.b64encode(head.encode() + chunked).decode()
        assert list(load_quiet(write_json(tmp_path / "c.json", [item]), None).df.event_id) == ["Ev10"]

    def test_body_cut_short_by_ngrok_is_warned(self, tmp_path: Path) -> None:
        good, cut = event_body("Ev11"), event_body("Ev12")
        item = ngrok_item(cut, signed(cut))
        raw = base64.b64decode(item["request"]["raw"])
        item["request"]["raw"] = base64.b64encode(raw[:-20]).decode()
        path = write_json(tmp_path / "cut.json", {"requests": [ngrok_item(good, signed(good)), item]})
        with pytest.warns(UserWarning, match=r"cut.json.*request 2: body cut short"):
            cap = read_http_log(path, SECRET)
        assert list(cap.df.event_id) == ["Ev11"]


class TestJsonLines:
    def test_writer_round_trip_and_file_mode(self, tmp_path: Path) -> None:
        path = tmp_path / "http.jsonl"
        writer = HttpLogWriter(path)
        body = event_body("Ev20", text="é")
        writer.write(request(body, signed(body), T0 + 0.5, ms=0.8))
        odd = b"\xff\xfenot utf-8"
        writer.write(request(odd, signed(odd, ctype="text/plain"), T0 + 1.0))
        writer.write(request(b"", [], T0 + 2.0, method="GET"))
        writer.close()
        writer.close()
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        with pytest.warns(UserWarning, match="line 2: Slack request with a body slacklab does not recognise"):
            cap = read_http_log(path, SECRET)
        assert list(cap.df.event_id) == ["Ev20"] and cap.df.response_ms.iloc[0] == pytest.approx(0.8)
        problems = cap.problems()
        assert len(problems) == 2  # the binary POST (Slack's headers, unknown body) and the GET
        assert json.loads(path.read_text().splitlines()[1])["body_b64"]

    def test_json_bodies_are_embedded_verbatim_and_signatures_still_check(self, tmp_path: Path) -> None:
        path = tmp_path / "http.jsonl"
        writer = HttpLogWriter(path)
        spaced = b'{ "type" : "event_callback", "event_id": "Ev30", "team_id": "T1", "x": "caf\\u00e9 \xc3\xa9" }'
        broken = b'{"type": "event_callback", "event_id": }'  # looks like one JSON object, is not
        form = urlencode({"command": "/deploy", "text": "a+b", "trigger_id": "9.9"}).encode()
        for body, ctype in ((spaced, JSON), (broken, JSON), (form, "application/x-www-form-urlencoded")):
            writer.write(request(body, signed(body, ctype=ctype), T0 + 0.5))
        writer.close()
        lines = path.read_text(encoding="utf-8").splitlines()
        assert json.loads(lines[0])["json"]["x"] == "café é"  # one parse gives the payload itself
        assert "body" in json.loads(lines[2])  # a form stays text
        with pytest.warns(UserWarning, match="line 2: Slack request with a body slacklab does not recognise"):
            cap = read_http_log(path, SECRET)
        assert cap.df["kind"].tolist() == ["events_api", "slash_commands"]
        assert cap.df["event_id"].iloc[0] == "Ev30"
        assert cap.df["signature"].tolist() == ["valid", "valid"]  # the exact bytes came back for the HMAC

    def test_logs_written_before_bodies_were_embedded_still_load(self, tmp_path: Path) -> None:
        body = event_body("Ev31")
        record = {"k": "http", "t": T0, "method": "POST", "path": "/slack/events", "headers": signed(body)}
        path = tmp_path / "old.jsonl"
        path.write_text(json.dumps({**record, "body": body.decode(), "status": 200, "ms": 1.0}) + "\n")
        cap = read_http_log(path, SECRET)
        assert cap.df["event_id"].tolist() == ["Ev31"] and cap.df["signature"].tolist() == ["valid"]

    def test_torn_last_line_is_warned(self, tmp_path: Path) -> None:
        path = tmp_path / "torn.jsonl"
        writer = HttpLogWriter(path)
        body = event_body("Ev21")
        writer.write(request(body, signed(body)))
        writer.close()
        with path.open("a") as handle:
            handle.write('{"k":"http","t":17000')
        with pytest.warns(UserWarning, match=r"torn.jsonl.*line 2: incomplete last line"):
            cap = read_http_log(path, SECRET)
        assert len(cap) == 1


# -------------------------------------------------------------- broken files


class TestBrokenFiles:
    def test_truncated_har_names_file_and_line(self, tmp_path: Path) -> None:
        body = event_body("Ev1")
        text = json.dumps(har([har_entry(body, signed(body))] * 3), indent=2)
        path = tmp_path / "cut.har"
        path.write_text(text[: len(text) // 2])
        with pytest.raises(LogFormatError, match=r"cut.har, line \d+, column \d+: not valid JSON") as info:
            read_http_log(path)
        assert info.value.path == path and info.value.location.startswith("line ")

    @pytest.mark.parametrize(
        "content,match",
        [
            (b"", "empty"),
            (b"\x00\x01garbage\xff", "not a HAR file"),
            (b"hello world\n", "not a HAR file"),
            (b'{"something": "else"}', "not a HAR file or an ngrok export"),
            (b'{"log": {"entries": 3}}', "log.entries"),
        ],
    )
    def test_garbage_is_a_clear_error(self, tmp_path: Path, content: bytes, match: str) -> None:
        path = tmp_path / "bad.har"
        path.write_bytes(content)
        with pytest.raises(LogFormatError, match=match) as info:
            read_http_log(path)
        assert str(path) in str(info.value)

    def test_missing_file(self, tmp_path: Path) -> None:
        with pytest.raises(LogFormatError, match="cannot open"):
            read_http_log(tmp_path / "nope.har")

    def test_partly_broken_har_loads_the_rest_and_names_entries(self, tmp_path: Path) -> None:
        body = event_body("Ev1")
        entries = [
            har_entry(body, signed(body)),
            {"request": "nope"},
            {**har_entry(body, signed(body)), "startedDateTime": "yesterday"},
        ]
        with pytest.warns(UserWarning, match=r"skipped 2 unusable entries: entry 2: no request object; entry 3: "):
            cap = read_http_log(write_json(tmp_path / "part.har", har(entries)), SECRET)
        assert len(cap) == 1 and any("entry 2" in n for n in cap.notes)

    def test_all_entries_broken_is_an_error_naming_the_first(self, tmp_path: Path) -> None:
        with pytest.raises(LogFormatError, match=r"all.har, entry 1: no usable entry"):
            read_http_log(write_json(tmp_path / "all.har", har([1, 2])))

    def test_journal_gets_a_pointer_to_load(self, tmp_path: Path) -> None:
        path = tmp_path / "socket.jsonl"
        journal = JournalWriter(path)
        journal.opened(T0, "c1")
        journal.frame(T0, "c1", envelope(event_payload("Ev30"), "env-30"))
        journal.ack(T0, "c1", "env-30", 1.0)
        journal.close()
        with pytest.raises(LogFormatError, match=r"slacklab.load\(\)"):
            read_http_log(path)
        assert list(load_log(path).df.event_id) == ["Ev30"]

    def test_load_log_reads_http_logs_too(self, tmp_path: Path) -> None:
        body = event_body("Ev31")
        cap = load_log(write_json(tmp_path / "x.har", har([har_entry(body, signed(body))])), SECRET)
        assert cap.df.signature.iloc[0] == "valid"


class TestSkipsAndSecrets:
    def test_non_slack_requests_are_counted_not_errors(self, tmp_path: Path) -> None:
        body = event_body("Ev1")
        entries = [
            har_entry(body, signed(body)),
            har_entry(b"", [], method="GET", url="https://example.invalid/logo.png"),
            har_entry(json.dumps({"type": "push", "ref": "main"}).encode(), [("Content-Type", JSON)]),
            har_entry(b"name=alice&age=3", [("Content-Type", FORM)]),
        ]
        cap = load_quiet(write_json(tmp_path / "mixed.har", har(entries)))
        assert len(cap) == 1 and len(cap.problems()) == 3
        assert cap.problems().problem.str.contains("skipped: not a Slack request").all()
        assert any("3 request(s) were not Slack's" in n for n in cap.notes)

    def test_secret_and_tokens_never_show(self, tmp_path: Path) -> None:
        body = event_body("Ev1")
        headers = [*signed(body), ("Authorization", "Bearer xoxb-1234-5678-abcdefgh")]
        cap = load_quiet(write_json(tmp_path / "s.har", har([har_entry(body, headers)])))
        shown = repr(cap) + cap._repr_html_() + cap.df.to_string() + cap.problems().to_string() + "".join(cap.notes)
        assert SECRET not in shown and "fake-verification-token" not in shown

    def test_warnings_about_bad_entries_do_not_quote_tokens(self, tmp_path: Path) -> None:
        body = event_body("Ev1")
        leaky = {**har_entry(body, signed(body)), "startedDateTime": "xoxb-1234-5678-abcdefgh"}
        path = write_json(tmp_path / "leak.har", har([har_entry(body, signed(body)), leaky]))
        with pytest.warns(UserWarning) as caught:
            cap = read_http_log(path, SECRET)
        shown = str(caught[0].message) + "".join(cap.notes) + cap.problems().to_string()
        assert "entry 2" in shown and "xoxb-1234-5678-abcdefgh" not in shown


# ------------------------------------------------------------------ fuzzing


FUZZ_FILES = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def loads_or_refuses(path: Path) -> None:
    """A fuzzed file either loads (and its tables build) or raises LogFormatError; nothing else."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            cap = read_http_log(path, SECRET)
        except LogFormatError:
            return
    assert len(cap.df) == len(cap) and isinstance(cap.problems(), type(cap.df))


@FUZZ_FILES
@given(data=st.binary(max_size=400))
def test_fuzz_arbitrary_bytes_only_raise_log_format_error(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "fuzz.har"
    path.write_bytes(data)
    loads_or_refuses(path)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
_slack_json = st.fixed_dictionaries(
    {"type": st.sampled_from(["event_callback", "url_verification", "app_rate_limited", "block_actions"])},
    optional={"event_id": _json, "event_time": _json, "event": _json, "team_id": _json, "challenge": _json},
).map(json.dumps)
_slack_form = st.dictionaries(
    st.sampled_from(["command", "text", "trigger_id", "payload", "ssl_check", "x"]),
    st.one_of(st.text(max_size=20), _slack_json, st.just("/deploy")),
    max_size=4,
).map(urlencode)
_entry = st.fixed_dictionaries(
    {
        "request": st.fixed_dictionaries(
            {
                "method": st.sampled_from(["POST", "GET", 3]),
                "headers": st.one_of(_json, st.lists(st.tuples(st.text(max_size=8), st.text(max_size=8)))),
                "postData": st.one_of(
                    _json, st.fixed_dictionaries({"text": st.one_of(st.text(max_size=60), _slack_json, _slack_form)})
                ),
            }
        ),
        "startedDateTime": st.one_of(st.just("2026-01-01T00:00:00Z"), _json),
        "time": _json,
        "response": _json,
    },
    optional={
        "_webSocketMessages": st.lists(
            st.fixed_dictionaries(
                {
                    "type": st.sampled_from(["send", "receive", "x"]),
                    "time": _json,
                    "opcode": st.sampled_from([1, 2]),
                    "data": st.one_of(st.text(max_size=40), _json),
                }
            ),
            max_size=3,
        )
    },
)

_slackish_entry = st.builds(
    lambda body, extra, t, status, ms: {
        **har_entry(
            body.encode("utf-8", "surrogatepass"),
            [("Content-Type", JSON if body.startswith("{") else FORM), *extra],
            started=t,
            status=status,
        ),
        "time": ms,
    },
    st.one_of(_slack_json, _slack_form),
    st.lists(
        st.tuples(
            st.sampled_from(
                ["X-Slack-Retry-Num", "X-Slack-Retry-Reason", "X-Slack-Signature", "X-Slack-Request-Timestamp"]
            ),
            st.text(max_size=12),
        ),
        max_size=3,
    ),
    st.floats(min_value=0, max_value=8e9),
    st.sampled_from([200, 401, 500]),
    _json,
)


@FUZZ_FILES
@given(
    entries=st.lists(st.one_of(_slackish_entry, _entry, _json), max_size=4),
    shape=st.sampled_from(["har", "ngrok", "jsonl"]),
)
def test_fuzz_structured_logs(tmp_path: Path, entries: list[Any], shape: str) -> None:
    path = tmp_path / "fuzz.json"
    if shape == "har":
        path.write_text(json.dumps(har(entries)))
    elif shape == "ngrok":
        path.write_text(json.dumps({"requests": entries}))
    else:
        path.write_text("\n".join(json.dumps({"k": "http", **e} if isinstance(e, dict) else e) for e in entries))
    loads_or_refuses(path)


@settings(max_examples=300, deadline=None)
@given(
    body=st.one_of(
        st.binary(max_size=300),
        st.text(max_size=300).map(str.encode),
        st.dictionaries(st.text(max_size=10), st.text(max_size=30), max_size=6).map(lambda d: urlencode(d).encode()),
    ),
    ctype=st.sampled_from([None, JSON, FORM, "text/plain"]),
)
def test_fuzz_form_and_json_decoding_never_raises(body: bytes, ctype: str | None) -> None:
    found = classify_body(ctype, body)
    assert found is None or isinstance(found[1], dict)
    parsed = parse_request(request(body, [("Content-Type", ctype or "")]), SECRET)
    assert parsed.row is not None or parsed.problem
