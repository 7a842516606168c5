"""Secrets audit: planted fake credentials never come out of slacklab, whatever path they came in by.

Distinctive, obviously fake secrets — an app token (``xapp-``), a bot token
(``xoxb-``), a user token (``xoxp-``), browser session tokens (``xoxc-``,
``xoxd-``), a refresh token (``xoxe-``), a workflow token (``xwfp-``, as
``function_executed`` carries it in ``bot_access_token``), values under keys
named like secrets (``access_token``, ``client_secret``), ``response_url`` values
and an incoming-webhook URL (they can post), the deprecated verification ``token``
field, a signing secret, ``Authorization`` and ``Cookie`` header values — are
planted in every input: Socket Mode frames (well-formed, cut short, of an
unknown type), the listener's own token, HTTP requests to the live receiver
(bodies and headers, accepted and refused), HAR / ngrok / JSON Lines logs,
journals, and the arguments of calls that fail. Then every output is searched
for them: reprs, HTML reprs, the explore panel, log records at DEBUG,
DataFrame cells of every view, CSV exports, comparison reports, warnings and
exception messages. The raw files (journal, receiver log) are the one place
they may be, and those are created with mode 0600.
"""

from __future__ import annotations

import json
import logging
import re
import stat
import time
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import ipywidgets as w
import pandas as pd
import pytest

import slacklab
from slacklab.capture import Capture
from slacklab.comparison.lineup import compare
from slacklab.errors import LogFormatError, SlacklabError, TokenError
from slacklab.export import to_csv
from slacklab.http.logs import read_http_log
from slacklab.http.receiver import HttpReceiver
from slacklab.http.signing import check_secret, sign
from slacklab.listener import Listener
from slacklab.notebook.panel import explore
from slacklab.sim.http_sender import HttpDelivery
from slacklab.sim.scenario import ScenarioItem
from slacklab.sim.server import Simulator

from .helpers import block_action_payload, envelope, event_payload, slash_payload, wait_until
from .test_httplog import har, har_entry, ngrok_item
from .test_listener import FAST, no_thread_left_behind  # noqa: F401
from .test_receiver import post

pytestmark = pytest.mark.timeout(120)

APP = "xapp-1-A0PLANTED-0000-plantedappTOKENfake"
BOT = "xoxb-0000-PLANTED-bot-fake"
USER = "xoxp-0000-PLANTED-user-fake"
SESSION = "xoxc-0000-PLANTED-session-fake"
SESSION_COOKIE = "xoxd-PLANTEDsessionCOOKIE%2Bfake%3D"
REFRESH = "xoxe-1-PLANTED-refresh-fake"
WORKFLOW = "xwfp-0000-PLANTED-workflow-fake"
ACCESS = "PLANTEDaccessTOKEN-0000-fake"  # no token shape: masked because of its key
CLIENT_SECRET = "PLANTEDclientSECRET-0000-fake"
RESPONSE_URL = "https://hooks.slack.com/commands/T0PLANT/1111/PLANTEDresponseURLfake"
ACTIONS_URL = "https://hooks.slack.com/actions/T0PLANT/2222/PLANTEDactionsURLfake"
WEBHOOK = "https://hooks.slack.com/services/T0PLANT/B0PLANT/PLANTEDwebhookURLfake"
VERIFICATION = "PLANTEDverificationTOKEN-0000-fake"
SIGNING = "PLANTEDsigningSECRET-0000-fake"
BASIC = "Basic PLANTEDbasicAUTH-0000-fake"
COOKIE = "d=PLANTEDcookieVALUE-0000-fake; d-s=1764300000"
NEEDLES = (
    "plantedappTOKENfake",
    "PLANTED-bot-fake",
    "PLANTED-user-fake",
    "PLANTED-session-fake",
    "PLANTEDsessionCOOKIE",
    "PLANTED-refresh-fake",
    "PLANTED-workflow-fake",
    "PLANTEDaccessTOKEN",
    "PLANTEDclientSECRET",
    "PLANTEDresponseURL",
    "PLANTEDactionsURL",
    "PLANTEDwebhookURL",
    "PLANTEDverificationTOKEN",
    "PLANTEDsigningSECRET",
    "PLANTEDbasicAUTH",
    "PLANTEDcookieVALUE",
)
TEXT = (
    f"pasted by mistake: {BOT} and {USER} and {APP}, {SESSION} / {SESSION_COOKIE}, {REFRESH},"
    f" the webhook {WEBHOOK} — please rotate"
)
# a ticket in a WebSocket URL, unmasked (websockets and slack_sdk log it at DEBUG)
TICKET = re.compile(r"ticket=(?!•••)[^&\s\"']+")
SECRET_HEADERS = (("Authorization", f"Bearer {BOT}"), ("Cookie", COOKIE), ("Proxy-Authorization", BASIC))


def leaks(text: str) -> list[str]:
    found = [n for n in NEEDLES if n in text]
    return found + [m.group(0) for m in TICKET.finditer(text)]


def assert_clean(where: str, text: str) -> None:
    assert not leaks(text), f"{where} shows {leaks(text)}"


def cells(df: pd.DataFrame) -> str:
    return "\n".join(map(str, [*df.columns, *df.index, *df.to_numpy().ravel()]))


def widget_html(widget: w.Widget) -> Iterable[str]:
    value = getattr(widget, "value", None)
    if isinstance(value, str):
        yield value
    for attr in ("description", "placeholder", "tooltip"):
        text = getattr(widget, attr, None)
        if isinstance(text, str):
            yield text
    for child in getattr(widget, "children", ()):
        yield from widget_html(child)


def audit(name: str, capture: Capture, tmp_path: Path) -> None:
    """Every way a capture shows itself: views, reprs, notes, CSV, the explore panel."""
    for view in ("deliveries", "events", "counts", "connections", "problems"):
        assert_clean(f"{name}.{view}()", cells(getattr(capture, view)()))
    assert_clean(f"repr({name})", repr(capture))
    assert_clean(f"{name}._repr_html_()", capture._repr_html_())
    assert_clean(f"{name}.detail/notes", capture.detail + "\n".join(capture.notes))
    for view in ("deliveries", "events"):
        assert_clean(f"{name} {view} CSV", capture.to_csv(tmp_path / f"{name}-{view}.csv", view=view).read_text())
    assert_clean(f"{name} problems CSV", to_csv(capture.problems(), tmp_path / f"{name}-problems.csv").read_text())
    panel = explore(capture, refresh_every=60)
    try:
        panel.refresh()
        assert_clean(f"explore({name})", "\n".join(widget_html(panel.widget)))
    finally:
        panel.close()


def assert_private(path: Path) -> None:
    assert stat.S_IMODE(path.stat().st_mode) == 0o600, f"{path} is {oct(path.stat().st_mode)}"


@pytest.fixture
def records(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    return caplog


def assert_logs_clean(caplog: pytest.LogCaptureFixture, *, websocket: bool = False) -> None:
    """Every record at DEBUG, slacklab's and the libraries' (``websocket``: websockets logged the ticket URL)."""
    ours = [r for r in caplog.records if r.name.startswith("slacklab")]
    assert ours  # the capture did log
    for record in caplog.records:
        assert_clean(f"log record {record.name}", record.getMessage() + (record.exc_text or ""))
    if websocket:  # the library did log the URL (masked): the filter, not silence, keeps it clean
        assert any(r.name.startswith("websockets") and "ticket=•••" in r.getMessage() for r in caplog.records), (
            "websockets logged no ticket URL at DEBUG"
        )


# ------------------------------------------------------------------ Socket Mode


def planted_items() -> list[ScenarioItem]:
    event = {**event_payload("EvPLANT1", text=TEXT), "token": VERIFICATION}
    edited = {
        **event_payload(
            "EvPLANT2", event_type="message", subtype="message_changed", message={"text": TEXT, "user": "U1"}
        ),
        "token": VERIFICATION,
    }
    slash = {**slash_payload("111.plant.slash", text=TEXT), "token": VERIFICATION, "response_url": RESPONSE_URL}
    click = {
        **block_action_payload("222.plant.click"),
        "token": VERIFICATION,
        "response_url": ACTIONS_URL,
        "message": {"text": TEXT, "ts": "1700000000.000200"},
    }
    function = {
        **event_payload("EvPLANT4", event_type="function_executed"),
        "token": VERIFICATION,
        "authorizations": [{"access_token": ACCESS, "client_secret": CLIENT_SECRET}],
    }
    function["event"] = {**function["event"], "bot_access_token": WORKFLOW, "inputs": {"hook": WEBHOOK}}
    return [
        ScenarioItem(0.0, "events_api", event),
        ScenarioItem(0.1, "events_api", edited),
        ScenarioItem(0.2, "slash_commands", slash),
        ScenarioItem(0.3, "interactive", click),
        ScenarioItem(0.4, "events_api", function),
    ]


def test_socket_mode_path(tmp_path: Path, records: pytest.LogCaptureFixture) -> None:
    journal = tmp_path / "journal.jsonl"
    with Simulator(planted_items(), speed=10, seed=1) as sim:
        listener = Listener(sim.app_token, api_url=sim.api_url, journal=journal, **FAST)
        capture = listener.start()
        try:
            assert capture.wait_for(5, timeout=20) == 5
            cut = envelope({**event_payload("EvPLANT3", text=TEXT), "token": VERIFICATION}, "env-cut")
            sim.send_malformed(cut[: cut.index(VERIFICATION) + 12])  # cut inside the token's value
            sim.send_malformed(cut[: cut.index("pasted") + 40])  # cut inside the text
            sim.send_malformed(json.dumps({"type": "mystery_frame", "token": VERIFICATION, "note": TEXT}))
            assert wait_until(lambda: len(capture.problems()) == 3, 10)
            assert_clean("repr(listener)", repr(listener))
        finally:
            listener.stop()
        assert_clean("repr(simulator)", repr(sim))
    raw = journal.read_text(encoding="utf-8")
    for planted in (VERIFICATION, BOT, WORKFLOW, ACCESS, RESPONSE_URL, WEBHOOK):
        assert json.dumps(planted)[1:-1] in raw  # the secrets really went through this path
    assert_private(journal)
    audit("socket", capture, tmp_path)
    assert_logs_clean(records, websocket=True)
    reloaded = slacklab.load(journal)
    audit("reloaded", reloaded, tmp_path)


def test_the_listeners_own_token(
    tmp_path: Path, records: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Simulator([], speed=10) as sim:
        listener = Listener(APP, api_url=sim.api_url, journal=tmp_path / "j.jsonl", **FAST)
        capture = listener.start()
        try:
            assert wait_until(lambda: capture.state == "failed", 10)
        finally:
            listener.stop()
        assert "invalid_auth" in capture.detail
        assert_clean("repr(listener)", repr(listener))
        assert_clean("failed capture", repr(capture) + capture._repr_html_() + capture.detail)
        assert_clean("journal notes", (tmp_path / "j.jsonl").read_text())
    assert_logs_clean(records)
    monkeypatch.setenv("SLACK_APP_TOKEN", f"  {BOT}  ")
    for call in (
        lambda: Listener(BOT),
        lambda: Listener(USER),
        lambda: Listener(VERIFICATION),
        lambda: slacklab.listen(simulate=False),
        lambda: slacklab.listen(USER),
    ):
        with pytest.raises(TokenError) as info:
            call()
        assert_clean("TokenError", str(info.value) + repr(info.value))


# ------------------------------------------------------------------------ HTTP


def signed(payload: Any, *, form: bool = False, secret: str = SIGNING) -> tuple[bytes, dict[str, str]]:
    if form:
        from urllib.parse import urlencode

        body = urlencode(payload).encode()
        ctype = "application/x-www-form-urlencoded"
    else:
        body = json.dumps(payload).encode()
        ctype = "application/json"
    return body, {"Content-Type": ctype, **dict(SECRET_HEADERS), **sign(secret, int(time.time()), body)}


def test_http_receiver_path(tmp_path: Path, records: pytest.LogCaptureFixture) -> None:
    log = tmp_path / "receiver.jsonl"
    receiver = HttpReceiver(signing_secret=SIGNING, log=log, max_body=4000)
    capture = receiver.start()
    try:
        for payload, form in (
            ({**event_payload("EvHTTP1", text=TEXT), "token": VERIFICATION}, False),
            ({**slash_payload("333.plant.http", text=TEXT), "token": VERIFICATION, "response_url": RESPONSE_URL}, True),
            (
                {
                    "payload": json.dumps(
                        {**block_action_payload("444.plant.http"), "token": VERIFICATION, "response_url": ACTIONS_URL}
                    )
                },
                True,
            ),
            ({"type": "url_verification", "token": VERIFICATION, "challenge": "c-1"}, False),
        ):
            body, headers = signed(payload, form=form)
            assert post(capture.url, body, headers)[0] == 200
        body, headers = signed({**event_payload("EvFORGED", text=TEXT), "token": VERIFICATION}, secret="wrong-one")
        assert post(capture.url, body, headers)[0] == 401
        body = f'{{"hello": "{TEXT}", "token": "{VERIFICATION}"}}'.encode()
        assert post(capture.url, body, {"Content-Type": "application/json", **dict(SECRET_HEADERS)})[0] == 400
        body = json.dumps({**event_payload("EvHUGE", text=TEXT * 200), "token": VERIFICATION}).encode()
        assert post(capture.url, body, {"Content-Type": "application/json", **dict(SECRET_HEADERS)})[0] == 413
        assert capture.wait_for(5, timeout=5) == 5  # the 401 is a row too, with its verdict
        assert_clean("repr(receiver)", repr(receiver))
    finally:
        receiver.stop()
    raw = log.read_text(encoding="utf-8")
    assert VERIFICATION in raw and "PLANTEDcookieVALUE" in raw  # raw payloads and headers: that is the log's job
    assert_private(log)
    audit("receiver", capture, tmp_path)
    assert_logs_clean(records)
    audit("receiver_log", read_http_log(log, SIGNING), tmp_path)

    with HttpDelivery(
        planted_items(),
        "http://127.0.0.1:9/slack/events",
        signing_secret=SIGNING,
        speed=None,
        timeout=0.5,
        retry_delays=(),
    ) as sender:
        assert sender.wait_done(timeout=10)
        assert_clean("repr(HttpDelivery)", repr(sender) + repr(sender.truth))


def http_entries() -> list[tuple[bytes, list[tuple[str, str]]]]:
    out = []
    for payload, form in (
        ({**event_payload("EvLOG1", text=TEXT), "token": VERIFICATION}, False),
        ({**slash_payload("555.plant.log", text=TEXT), "token": VERIFICATION, "response_url": RESPONSE_URL}, True),
    ):
        body, headers = signed(payload, form=form)
        out.append((body, list(headers.items())))
    return out


def test_http_log_readers(tmp_path: Path, records: pytest.LogCaptureFixture) -> None:
    entries = http_entries()
    har_path = tmp_path / "capture.har"
    bad_time = har_entry(b"{}", [("X-Slack-Signature", "v0=1")], started=0)
    bad_time["startedDateTime"] = f"{BOT} is not a time"  # quoted (masked) in the problem it makes
    unrecognised = har_entry(
        json.dumps({"token": VERIFICATION, "text": TEXT}).encode(), [("X-Slack-Retry-Num", "1"), ("Cookie", COOKIE)]
    )
    websocket = har_entry(b"", [("Authorization", f"Bearer {APP}")], method="GET", url="wss://wss.invalid/link/")
    websocket["_webSocketMessages"] = [
        {
            "type": "receive",
            "time": 1764300000.0,
            "opcode": 1,
            "data": envelope({**event_payload("EvWS1", text=TEXT), "token": VERIFICATION}, "env-ws"),
        },
        {"type": "receive", "time": 1764300000.1, "opcode": 1, "data": '{"type": "odd", "token": "' + VERIFICATION},
    ]
    har_path.write_text(
        json.dumps(
            har(
                [
                    *(har_entry(body, headers, started=time.time()) for body, headers in entries),
                    bad_time,
                    unrecognised,
                    websocket,
                ]
            )
        ),
        encoding="utf-8",
    )
    ngrok_path = tmp_path / "ngrok.json"
    ngrok_path.write_text(
        json.dumps({"requests": [ngrok_item(body, headers, started=time.time()) for body, headers in entries]}),
        encoding="utf-8",
    )
    for name, path in (("har", har_path), ("ngrok", ngrok_path)):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            capture = read_http_log(path, SIGNING)
        assert len(capture) >= 2
        for warning in caught:
            assert_clean(f"{name} warning", str(warning.message))
        audit(name, capture, tmp_path)
    for bad in ({BOT: 1, "token": VERIFICATION, "cookie": COOKIE}, [VERIFICATION, BOT]):
        path = tmp_path / "bad.json"
        path.write_text(json.dumps(bad), encoding="utf-8")
        with pytest.raises(LogFormatError) as info:
            read_http_log(path)
        assert_clean("LogFormatError", str(info.value) + repr(info.value))
    for first_line in (json.dumps({"token": VERIFICATION, "text": TEXT}), f"{BOT} {COOKIE}"):
        path = tmp_path / "notajournal.jsonl"
        path.write_text(first_line + "\n", encoding="utf-8")
        with pytest.raises(SlacklabError) as info:
            slacklab.load(path)
        assert_clean("load() error", str(info.value))
    assert_logs_clean(records)


def test_comparison_reports(tmp_path: Path) -> None:
    journal = tmp_path / "journal.jsonl"
    frames = [envelope({**event_payload(f"EvCMP{n}", text=TEXT), "token": VERIFICATION}, f"env-{n}") for n in range(3)]
    journal.write_text(
        "".join(
            json.dumps({"k": "frame", "t": 1764300000.0 + n, "c": "c1", "raw": f}) + "\n" for n, f in enumerate(frames)
        ),
        encoding="utf-8",
    )
    socket_side = slacklab.load(journal)
    log = tmp_path / "http.jsonl"
    lines = []
    for n in range(3):
        body, headers = signed({**event_payload(f"EvCMP{n}", text=TEXT), "token": VERIFICATION})
        lines.append(
            json.dumps(
                {
                    "k": "http",
                    "t": time.time(),
                    "method": "POST",
                    "path": "/slack/events",
                    "headers": [list(h) for h in headers.items()],
                    "body": body.decode(),
                    "status": 200,
                    "ms": 1.0,
                }
            )
        )
    log.write_text("\n".join(lines) + "\n", encoding="utf-8")
    http_side = read_http_log(log, SIGNING)
    result = compare(socket_side, http_side, signing_secret=SIGNING)
    assert_clean("repr(comparison)", repr(result))
    assert_clean("comparison._repr_html_()", result._repr_html_())
    assert_clean("comparison.to_html()", result.to_html(tmp_path / "report.html").read_text())
    for table in ("events", "summary", "by_type"):
        try:
            path = result.to_csv(tmp_path / f"cmp-{table}.csv", table=table)
        except ValueError:
            continue
        assert_clean(f"comparison {table} CSV", path.read_text())
    # the command line: what it prints, what it writes, and its one-line errors
    import io
    from contextlib import redirect_stderr

    from slacklab.cli.commands import main

    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as mp, redirect_stderr(err):
        mp.setenv("SLACK_SIGNING_SECRET", SIGNING)
        assert main(["compare", str(journal), str(log), "--out", str(tmp_path / "cli.html")], out=out) == 0
        assert main(["export", str(log), str(tmp_path / "cli.csv"), "--view", "events"], out=out) == 0
        assert main(["export", str(journal), str(tmp_path / "cli.csv")], out=out) == 2  # exists: one line
        mp.setenv("SLACK_APP_TOKEN", BOT)
        assert main(["capture", "--out", str(tmp_path / "never.csv")], out=out) == 2  # not an xapp- token
    assert "signatures checked" in out.getvalue() and err.getvalue().count("\n") == 2
    assert_clean("CLI output", out.getvalue() + err.getvalue())
    assert_clean("CLI report", (tmp_path / "cli.html").read_text() + (tmp_path / "cli.csv").read_text())


def test_bad_arguments_never_echo_secrets(tmp_path: Path) -> None:
    with pytest.raises(ValueError) as info:
        check_secret("   ")
    with pytest.raises(ValueError) as info2:
        HttpDelivery([], f"ftp://{BOT}@example.invalid/")
    assert_clean("argument errors", str(info.value) + str(info2.value))
    target = tmp_path / "exists.csv"
    target.write_text("x\n")
    with pytest.raises(SlacklabError) as info3:
        to_csv(pd.DataFrame({"text": [TEXT]}), target, overwrite=False)
    assert_clean("ExportError", str(info3.value))
