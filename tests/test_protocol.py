"""The pure Socket Mode core: parsing, the ack path, decisions, backoff."""

from __future__ import annotations

import itertools
import json
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from slacklab.protocol import (
    FATAL_API_ERRORS,
    Action,
    Disconnect,
    Envelope,
    Hello,
    Malformed,
    Unknown,
    ack_for,
    backoff_delays,
    build_ack,
    decide_api_error,
    decide_connection_lost,
    decide_disconnect,
    describe_close,
    parse_frame,
    peek_envelope,
)

# Valid JSON fixtures shaped like Slack's (python-slack-sdk mock server, slack-go fixture).
HELLO = (
    '{"type":"hello","num_connections":4,"debug_info":{"host":"applink-7fc4fdbb64-4x5xq",'
    '"build_number":10,"approximate_connection_time":18060},"connection_info":{"app_id":"A01K58AR4RF"}}'
)
EVENT = json.dumps(
    {
        "envelope_id": "cda4159a-72a5-4744-aba3-4d66eb52682b",
        "payload": {
            "token": "verification-token",
            "team_id": "T111",
            "api_app_id": "A111",
            "event": {
                "type": "app_mention",
                "text": "<@U111>",
                "user": "U222",
                "ts": "1610241741.000200",
                "channel": "C111",
                "event_ts": "1610241741.000200",
            },
            "type": "event_callback",
            "event_id": "Ev111",
            "event_time": 1610241741,
        },
        "type": "events_api",
        "accepts_response_payload": False,
        "retry_attempt": 0,
        "retry_reason": "",
    }
)
SLASH = (
    '{"envelope_id":"1d3c79ab","payload":{"token":"verification-token","team_id":"T111","channel_id":"C111",'
    '"user_id":"U111","command":"/hello-socket-mode","text":"","api_app_id":"A111","trigger_id":"111.222.xxx"},'
    '"type":"slash_commands","accepts_response_payload":true}'
)


def disconnect(reason: str) -> str:
    return json.dumps({"type": "disconnect", "reason": reason, "debug_info": {"host": "wss-111.slack.com"}})


class TestParseFrame:
    def test_hello(self) -> None:
        frame = parse_frame(HELLO)
        assert frame == Hello(
            num_connections=4, app_id="A01K58AR4RF", host="applink-7fc4fdbb64-4x5xq", approximate_connection_time=18060
        )

    def test_hello_without_optional_parts(self) -> None:
        assert parse_frame('{"type":"hello"}') == Hello(None, None, None, None)

    def test_events_api_envelope(self) -> None:
        frame = parse_frame(EVENT)
        assert isinstance(frame, Envelope)
        assert frame.envelope_id == "cda4159a-72a5-4744-aba3-4d66eb52682b"
        assert frame.type == "events_api"
        assert frame.payload["event_id"] == "Ev111"
        assert frame.accepts_response_payload is False
        assert (frame.retry_attempt, frame.retry_reason) == (0, "")

    def test_slash_command_envelope_accepts_response(self) -> None:
        frame = parse_frame(SLASH)
        assert isinstance(frame, Envelope)
        assert frame.type == "slash_commands"
        assert frame.accepts_response_payload is True

    def test_retry_fields(self) -> None:
        data = json.loads(EVENT) | {"retry_attempt": 2, "retry_reason": "timeout"}
        frame = parse_frame(json.dumps(data))
        assert isinstance(frame, Envelope)
        assert (frame.retry_attempt, frame.retry_reason) == (2, "timeout")

    @pytest.mark.parametrize("value", [None, "x", -1, True, [1]])
    def test_odd_retry_attempt_is_zero(self, value: object) -> None:
        frame = parse_frame(
            json.dumps({"envelope_id": "e", "type": "events_api", "payload": {}, "retry_attempt": value})
        )
        assert isinstance(frame, Envelope) and frame.retry_attempt == 0

    def test_bytes_are_accepted(self) -> None:
        assert isinstance(parse_frame(HELLO.encode()), Hello)

    def test_disconnect_reasons(self) -> None:
        for reason in ("warning", "refresh_requested", "link_disabled", "too_many_websockets", "new_reason"):
            assert parse_frame(disconnect(reason)) == Disconnect(reason, "wss-111.slack.com")
        assert parse_frame('{"type":"disconnect"}') == Disconnect("unknown", None)

    def test_unknown_type_without_envelope(self) -> None:
        frame = parse_frame('{"type":"something_new","x":1}')
        assert frame == Unknown("something_new", {"type": "something_new", "x": 1})

    def test_unknown_envelope_type_is_still_an_envelope(self) -> None:
        # It has an envelope_id, so it must be acked or Slack would retry it.
        frame = parse_frame('{"envelope_id":"e1","type":"brand_new","payload":{"a":1}}')
        assert isinstance(frame, Envelope) and frame.type == "brand_new"

    @pytest.mark.parametrize(
        ("text", "problem"),
        [
            ("{not json", "not JSON"),
            ("", "not JSON"),
            ("[1,2]", "JSON list"),
            ('"hello"', "JSON str"),
            ("null", "JSON NoneType"),
            ('{"x":1}', "neither a type nor an envelope_id"),
            ('{"envelope_id":5,"type":"events_api"}', "envelope_id"),
            ('{"envelope_id":"","type":"events_api"}', "envelope_id"),
            ('{"envelope_id":"e","type":"events_api","payload":[1]}', "payload is not an object"),
            (b"\xff\xfe", "UTF-8"),
            ("[" * 100_000, "not JSON"),
        ],
    )
    def test_malformed(self, text: str | bytes, problem: str) -> None:
        frame = parse_frame(text)
        assert isinstance(frame, Malformed)
        assert problem in frame.problem

    @given(st.text(max_size=300))
    @settings(max_examples=300, deadline=None)
    def test_never_raises_on_text(self, text: str) -> None:
        parse_frame(text)

    @given(
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=10),
            lambda c: (
                st.lists(c, max_size=3)
                | st.dictionaries(
                    st.sampled_from(
                        [
                            "type",
                            "envelope_id",
                            "payload",
                            "reason",
                            "retry_attempt",
                            "debug_info",
                            "connection_info",
                            "num_connections",
                        ]
                    ),
                    c,
                    max_size=5,
                )
            ),
            max_leaves=20,
        )
    )
    @settings(max_examples=300, deadline=None)
    def test_never_raises_on_json_shapes(self, value: object) -> None:
        parse_frame(json.dumps(value))


class TestAck:
    def test_plain_ack(self) -> None:
        assert json.loads(build_ack("abc")) == {"envelope_id": "abc"}

    def test_ack_with_payload(self) -> None:
        assert json.loads(build_ack("abc", {"text": "hi"})) == {"envelope_id": "abc", "payload": {"text": "hi"}}


class TestDecisions:
    @pytest.mark.parametrize("reason", ["warning", "refresh_requested", "something_else"])
    def test_refresh_like_reasons_replace_with_overlap(self, reason: str) -> None:
        assert decide_disconnect(reason).action is Action.REPLACE

    def test_too_many_websockets_closes_first(self) -> None:
        d = decide_disconnect("too_many_websockets")
        assert d.action is Action.RECONNECT and "10" in d.explanation

    def test_link_disabled_stops_in_plain_words(self) -> None:
        d = decide_disconnect("link_disabled")
        assert d.action is Action.STOP
        assert "Socket Mode was turned off" in d.explanation

    def test_connection_lost(self) -> None:
        d = decide_connection_lost(1011, "keepalive ping timeout")
        assert d.action is Action.RECONNECT and "1011" in d.explanation
        assert "connection lost" in decide_connection_lost(None).explanation

    def test_close_codes_in_plain_words(self) -> None:
        assert describe_close(1006) == "dropped without a close frame (network or server failure) (code 1006)"
        assert describe_close(1011, "keepalive ping timeout").endswith("(code 1011: keepalive ping timeout)")
        assert describe_close(4000) == "closed (code 4000)"
        assert describe_close(None) == "connection lost"

    @pytest.mark.parametrize("error", sorted(FATAL_API_ERRORS))
    def test_fatal_api_errors_stop_and_name_the_error(self, error: str) -> None:
        d = decide_api_error(error)
        assert d.action is Action.STOP and error in d.explanation

    def test_ratelimited_honours_retry_after(self) -> None:
        assert decide_api_error("ratelimited", 7).delay == 7
        assert decide_api_error("ratelimited").delay == 30.0
        assert decide_api_error("ratelimited", -3).delay == 30.0

    @pytest.mark.parametrize("error", ["internal_error", "fatal_error", "service_unavailable", "http_502"])
    def test_transient_errors_back_off(self, error: str) -> None:
        d = decide_api_error(error)
        assert d.action is Action.RECONNECT and d.delay is None


class TestBackoff:
    def test_grows_and_caps_with_jitter(self) -> None:
        delays = list(itertools.islice(backoff_delays(lambda: 0.999999, initial=1, factor=2, cap=8), 6))
        assert [round(d) for d in delays] == [1, 2, 4, 8, 8, 8]
        low = list(itertools.islice(backoff_delays(lambda: 0.0, initial=1, factor=2, cap=8), 4))
        assert low == [0.5, 1.0, 2.0, 4.0]

    def test_jitter_spreads_clients(self) -> None:
        a = list(itertools.islice(backoff_delays(random.Random(1).random), 5))
        b = list(itertools.islice(backoff_delays(random.Random(2).random), 5))
        assert a != b
        assert all(0 < d <= 30 for d in a + b)


class TestAckPath:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            (EVENT, ("cda4159a-72a5-4744-aba3-4d66eb52682b", False)),
            (SLASH.encode(), ("1d3c79ab", False)),
            (HELLO, (None, True)),
            (disconnect("warning"), (None, True)),
            ('{"type":"hello","envelope_id":"e1"}', ("e1", False)),  # an id makes it an envelope
            ('{"envelope_id":"e2","payload":[1]}', (None, False)),  # malformed: no ack, a problem row
            ('{"envelope_id":"e4","payload":null}', ("e4", False)),
            ('{"envelope_id":""}', (None, False)),
            ('{"envelope_id":5,"type":"events_api"}', (None, False)),
            ('{"type":5,"envelope_id":"e3"}', ("e3", False)),  # odd type: the full parser decides
            ('{"type":"mystery"}', (None, False)),
            ("garbage", (None, False)),
            ("[1]", (None, False)),
            (b"\xff\xfe", (None, False)),
        ],
    )
    def test_peek_reads_only_what_the_ack_needs(self, text: str | bytes, expected: tuple[str | None, bool]) -> None:
        assert peek_envelope(text) == expected

    @given(
        st.one_of(
            st.text(max_size=40),
            st.dictionaries(
                st.sampled_from(["type", "envelope_id", "payload", "retry_attempt"]),
                st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=8), st.just({})),
            ).map(json.dumps),
        )
    )
    @settings(max_examples=400, deadline=None)
    def test_peek_acks_exactly_what_the_full_parser_calls_an_envelope(self, text: str) -> None:
        envelope_id, control = peek_envelope(text)
        frame = parse_frame(text)
        if isinstance(frame, Envelope):
            assert envelope_id == frame.envelope_id and not control
        else:
            assert envelope_id is None
        assert control == isinstance(frame, Hello | Disconnect)

    @given(st.text(max_size=30))
    def test_ack_for_is_build_ack(self, envelope_id: str) -> None:
        assert ack_for(envelope_id) == build_ack(envelope_id)
        assert json.loads(ack_for(envelope_id)) == {"envelope_id": envelope_id}
