"""Fuzzing the paths hostile or broken input takes (hypothesis, bounded examples and deadlines).

Already fuzzed elsewhere: ``parse_frame`` alone (test_protocol), the HTTP log
readers and form/JSON body decoding (test_httplog), ``verify`` with random
header values (test_signing). Here: the whole Socket Mode path — protocol,
capture, DataFrame views, CSV — with Slack-shaped frames whose fields have any
type; garbage interleaved with valid envelopes (pure, and once over loopback
with the simulator's ``send_malformed``); the journal reader; the live HTTP
receiver; signatures over random bodies and secrets. The rule: nothing raises
but slacklab's documented errors, nothing hangs (deadlines), and no valid
event is lost.
"""

from __future__ import annotations

import http.client
import json
import random
import warnings
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import slacklab
from slacklab.capture import Capture
from slacklab.errors import LogFormatError
from slacklab.export import safe_frame
from slacklab.http.receiver import HttpReceiver
from slacklab.http.signing import INVALID, STALE, VALID, VERDICTS, sign, verify
from slacklab.listener import Listener
from slacklab.protocol import Envelope, ack_for, parse_frame, peek_envelope
from slacklab.sim.http_sender import FAKE_SIGNING_SECRET
from slacklab.sim.scenario import build_scenario
from slacklab.sim.server import Simulator

from .helpers import envelope, event_payload
from .test_listener import FAST, assert_exact, no_thread_left_behind  # noqa: F401

pytestmark = pytest.mark.timeout(120)

FUZZ = settings(max_examples=200, deadline=2000, suppress_health_check=[HealthCheck.too_slow])

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
_event = st.fixed_dictionaries(
    {},
    optional={
        k: _json
        for k in (
            "type",
            "user",
            "text",
            "ts",
            "channel",
            "event_ts",
            "thread_ts",
            "subtype",
            "item",
            "message",
            "channel_id",
        )
    },
)
_payload = st.fixed_dictionaries(
    {},
    optional={
        "event_id": _json,
        "event_time": _json,
        "event": st.one_of(_event, _json),
        "team_id": _json,
        "team": _json,
        "api_app_id": _json,
        "type": _json,
        "trigger_id": _json,
        "command": _json,
        "text": _json,
        "actions": _json,
        "user": _json,
        "channel": _json,
        "container": _json,
        "message": _json,
        "view": _json,
        "callback_id": _json,
        "token": _json,
    },
)
_frame = st.fixed_dictionaries(
    {"envelope_id": st.one_of(st.text(min_size=1, max_size=10), _json)},
    optional={
        "type": st.one_of(
            st.sampled_from(["events_api", "slash_commands", "interactive", "hello", "disconnect"]), _json
        ),
        "payload": st.one_of(_payload, _json),
        "retry_attempt": _json,
        "retry_reason": _json,
        "accepts_response_payload": _json,
        "num_connections": _json,
        "debug_info": _json,
        "connection_info": _json,
        "reason": _json,
    },
)
_hello = st.fixed_dictionaries(
    {"type": st.just("hello")},
    optional={
        "num_connections": _json,
        "debug_info": st.fixed_dictionaries({}, optional={"host": _json, "approximate_connection_time": _json}),
        "connection_info": _json,
    },
)


def _dumps(value: Any) -> str:
    return json.dumps(value, allow_nan=True)  # Python's json reads NaN/Infinity back too


def feed(frames: list[str | bytes], received_at: float = 1764300000.0) -> tuple[Capture, list[Any]]:
    """The listener's path without the socket: peek, ack, hand the raw frame to the capture."""
    capture, steps = Capture(), []
    for text in frames:
        envelope_id, _control = peek_envelope(text)
        ack = ack_for(envelope_id) if envelope_id is not None else None
        steps.append(SimpleNamespace(ack=ack, frame=parse_frame(text)))
        capture.add_raw(text, received_at=received_at, connection="c1", ack_ms=0.5 if ack else None)
    return capture, steps


def views_build(capture: Capture) -> None:
    df = capture.df
    assert len(df) == len(capture)
    capture.events()
    capture.counts()
    capture.connections()
    capture.problems()
    repr(capture)
    capture._repr_html_()
    safe_frame(df)


# ------------------------------------------------------------ frames -> capture


@FUZZ
@given(
    frames=st.lists(
        st.one_of(
            _frame.map(_dumps), _hello.map(_dumps), _json.map(_dumps), st.text(max_size=60), st.binary(max_size=40)
        ),
        max_size=6,
    ),
    received_at=st.floats(min_value=0, max_value=4e9),
)
def test_any_frame_through_protocol_and_capture_never_raises(frames: list[str | bytes], received_at: float) -> None:
    capture, steps = feed(frames, received_at)
    for step in steps:  # every envelope is acked, nothing else is
        assert (step.ack is not None) == isinstance(step.frame, Envelope)
    views_build(capture)


@pytest.mark.parametrize(
    "text",
    [
        '{"envelope_id": "e1", "type": "events_api", "payload": {}, "retry_attempt": 18446744073709551616}',
        '{"envelope_id": "e1", "type": "events_api", "payload": {}, "retry_attempt": 1.8446744073709552e+19}',
        '{"envelope_id": "e1", "type": "events_api", "payload": {}, "retry_attempt": "99999999999999999999"}',
        '{"type": "hello", "num_connections": 9223372036854775808}',
        '{"type": "hello", "num_connections": "' + "9" * 5000 + '"}',
        '{"type": "hello", "num_connections": "²"}',
        '{"type": "hello", "num_connections": "--5"}',
        '{"type": "hello", "debug_info": {"approximate_connection_time": 1e300}}',
    ],
)
def test_out_of_range_numbers_in_frames_are_dropped_not_fatal(text: str) -> None:
    """Regression: huge counts broke every later DataFrame snapshot; odd digit strings made parse_frame raise."""
    parse_frame(text)
    capture, _ = feed([text, envelope(event_payload("EvAfter"), envelope_id="e2")])
    views_build(capture)
    assert "A1/T1/EvAfter" in set(capture.events()["event_key"])
    assert capture.df["retry_attempt"].fillna(0).between(0, 2**31).all()


# garbage that can never be an envelope: text, JSON without envelope_id, cut-short frames
_garbage = st.one_of(
    st.text(max_size=80),
    st.binary(max_size=40),
    _json.filter(lambda v: not (isinstance(v, dict) and "envelope_id" in v)).map(_dumps),
    st.builds(
        lambda n, cut: envelope(event_payload(f"EvG{n}"), envelope_id=f"g{n}")[:cut],
        st.integers(0, 99),
        st.integers(0, 120),
    ),
)


@FUZZ
@given(n_valid=st.integers(1, 8), garbage=st.lists(_garbage, max_size=10), seed=st.integers(0, 2**16))
def test_garbage_interleaved_with_valid_envelopes_loses_none(
    n_valid: int, garbage: list[str | bytes], seed: int
) -> None:
    valid = [envelope(event_payload(f"Ev{n}", text=f"message {n}"), envelope_id=f"env-{n}") for n in range(n_valid)]
    stream: list[str | bytes] = [*valid, *garbage]
    random.Random(seed).shuffle(stream)
    capture, steps = feed(stream)
    acks = [json.loads(s.ack)["envelope_id"] for s in steps if s.ack is not None]
    assert sorted(acks) == sorted(f"env-{n}" for n in range(n_valid))  # each valid one acked once, no other
    df = capture.df
    assert sorted(df["envelope_id"]) == sorted(f"env-{n}" for n in range(n_valid))
    assert set(capture.events()["event_key"]) == {f"A1/T1/Ev{n}" for n in range(n_valid)}
    assert len(capture.problems()) == len(garbage)


def test_random_garbage_over_loopback_loses_no_event() -> None:
    rng = random.Random(7)
    real = envelope(event_payload("EvTemplate", text="a real frame, cut short below"))

    def garbage() -> str:
        kind = rng.randrange(4)
        if kind == 0:
            return real[: rng.randrange(len(real))]
        if kind == 1:
            return "".join(
                chr(rng.choice([rng.randrange(32, 127), rng.randrange(0x80, 0xD7FF)]))
                for _ in range(rng.randrange(1, 200))
            )
        if kind == 2:
            return json.dumps(
                rng.choice(
                    [
                        [1, 2],
                        "text",
                        3.5,
                        None,
                        {"type": "x" * rng.randrange(1, 9)},
                        {"payload": {"event_id": "EvNotAnEnvelope"}},
                    ]
                )
            )
        return "{" * rng.randrange(1, 3000)

    texts = [garbage() for _ in range(40)]
    scenario = build_scenario(seed=17, events=150, duration=30.0)
    with Simulator(scenario, speed=20, seed=17) as sim:
        with Listener(sim.app_token, api_url=sim.api_url, **FAST) as capture:
            assert capture.wait_for(5, timeout=20) >= 5
            for text in texts:
                assert sim.send_malformed(text)
            assert sim.wait_done(timeout=40)
            capture.wait_for(150, events=True, timeout=15)
            assert capture.state == "listening"
    assert_exact(capture, sim)
    assert len(capture.problems()) == len(texts)
    assert len(capture.connections()) == 1


# ------------------------------------------------------------------ the journal

_record = st.fixed_dictionaries(
    {
        "k": st.sampled_from(["frame", "ack", "open", "close", "note", "other"]),
        "t": st.one_of(st.floats(), st.integers(), _json),
    },
    optional={
        "c": _json,
        "raw": st.one_of(_frame.map(_dumps), _json, st.text(max_size=30)),
        "env": _json,
        "ms": _json,
        "why": _json,
        "text": _json,
    },
)


def load_and_build_views(path: Path) -> None:
    """Load a journal (warnings allowed) and build every view; LogFormatError is the one allowed error."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            capture = slacklab.load(path)
        except LogFormatError:
            return
    views_build(capture)


@FUZZ
@given(
    lines=st.lists(st.one_of(_record.map(_dumps), st.text(max_size=40), _json.map(_dumps)), max_size=8),
    torn=st.booleans(),
)
def test_any_journal_loads_or_raises_log_format_error(
    tmp_path_factory: pytest.TempPathFactory, lines: list[str], torn: bool
) -> None:
    path = tmp_path_factory.mktemp("journal") / "j.jsonl"
    text = "\n".join(line.replace("\n", " ").replace("\r", " ") for line in lines)
    path.write_text(text if torn else text + "\n", encoding="utf-8", errors="surrogatepass")
    load_and_build_views(path)


@pytest.mark.parametrize("t", ["1e400", "-1e400", "1e300", "-5", "9223372036855.0", "true", '"1764300000"'])
def test_journal_records_with_impossible_times_or_ack_ms_are_skipped_with_a_warning(tmp_path: Path, t: str) -> None:
    """Regression: a time pandas cannot hold, or a non-numeric ack ``ms``, made load() or every view raise."""
    good = _dumps({"k": "frame", "t": 1764300000.0, "c": "c1", "raw": envelope(event_payload("Ev1"), "e1")})
    lines = [
        good,
        '{"k": "frame", "t": %s, "c": "c1", "raw": %s}' % (t, json.dumps(envelope(event_payload("Ev2"), "e2"))),
        '{"k": "ack", "t": 1764300000.1, "c": "c1", "env": "e1", "ms": "abc"}',
        '{"k": "open", "t": %s, "c": "c9"}' % t,
    ]
    path = tmp_path / "j.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.warns(UserWarning, match=r"skipped 2 unreadable line\(s\): 2, 4"):
        capture = slacklab.load(path)
    views_build(capture)
    assert list(capture.df["envelope_id"]) == ["e1"] and capture.df["ack_ms"].isna().all()


@FUZZ
@given(data=st.binary(max_size=300))
def test_any_bytes_as_a_journal_load_or_raise_log_format_error(
    tmp_path_factory: pytest.TempPathFactory, data: bytes
) -> None:
    path = tmp_path_factory.mktemp("journal") / "j.jsonl"
    path.write_bytes(data)
    load_and_build_views(path)


# ------------------------------------------------------------- HTTP receiver


@pytest.fixture(scope="module")
def receiver() -> Iterator[Capture]:
    with HttpReceiver(signing_secret=FAKE_SIGNING_SECRET) as capture:
        yield capture


_content_types = st.sampled_from(
    [
        "application/json",
        "application/x-www-form-urlencoded",
        "text/plain",
        "",
        "application/json; charset=latin-1",
        "multipart/form-data; boundary=x",
    ]
)
_form_body = st.dictionaries(
    st.sampled_from(["command", "text", "trigger_id", "payload", "ssl_check", "token", "x"]),
    st.one_of(st.text(max_size=30), _json.map(_dumps), st.just("/deploy")),
    max_size=5,
)


@settings(max_examples=60, deadline=5000, suppress_health_check=[HealthCheck.too_slow])
@given(
    body=st.one_of(
        st.binary(max_size=400),
        _form_body.map(lambda d: "&".join(f"{k}={v}" for k, v in d.items())).map(str.encode),
        _payload.map(_dumps).map(str.encode),
    ),
    content_type=_content_types,
    signed=st.booleans(),
    extra=st.lists(
        st.tuples(
            st.sampled_from(
                [
                    "X-Slack-Retry-Num",
                    "X-Slack-Retry-Reason",
                    "X-Slack-Signature",
                    "X-Slack-Request-Timestamp",
                    "Cookie",
                    "X-Other",
                ]
            ),
            st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=20),
        ),
        max_size=3,
    ),
)
def test_live_receiver_answers_any_post(
    receiver: Capture, body: bytes, content_type: str, signed: bool, extra: list[tuple[str, str]]
) -> None:
    headers = dict(extra)
    if content_type:
        headers["Content-Type"] = content_type
    if signed:
        headers.update(sign(FAKE_SIGNING_SECRET, 1764300000, body))
    parts = urlsplit(receiver.url or "")
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
    try:
        conn.request("POST", parts.path, body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        assert response.status in (200, 400, 401)
    finally:
        conn.close()
    assert receiver.state == "receiving"
    views_build(receiver)


# ---------------------------------------------------------------- signatures

_SECRETS = ("fuzz-signing-secret-0001", "fuzz-sécret-ünïcode-0002", FAKE_SIGNING_SECRET)


@FUZZ
@given(
    secret=st.sampled_from(_SECRETS),
    body=st.binary(max_size=300),
    ts=st.integers(0, 2**33),
    skew=st.integers(-1000, 1000),
    flip=st.integers(0, 299),
)
def test_signatures_round_trip_and_detect_any_change(secret: str, body: bytes, ts: int, skew: int, flip: int) -> None:
    headers = sign(secret, ts, body)
    expected = VALID if abs(skew) <= 300 else STALE
    assert verify(secret, headers, body, ts + skew) == expected
    assert verify(secret, list(headers.items())[::-1], body, ts + skew) == expected  # pairs, any order
    if body:
        i = flip % len(body)
        altered = body[:i] + bytes([body[i] ^ 0x01]) + body[i + 1 :]
        assert verify(secret, headers, altered, ts + skew) == INVALID
    other = next(s for s in _SECRETS if s != secret)
    assert verify(other, headers, body, ts + skew) == INVALID


@FUZZ
@given(
    headers=st.lists(st.tuples(st.text(max_size=30), st.text(max_size=80)), max_size=6),
    body=st.binary(max_size=100),
    at=st.floats(allow_nan=True, allow_infinity=True),
)
def test_verify_with_any_headers_and_capture_time_never_raises(
    headers: list[tuple[str, str]], body: bytes, at: float
) -> None:
    assert verify(FAKE_SIGNING_SECRET, headers, body, at) in VERDICTS
