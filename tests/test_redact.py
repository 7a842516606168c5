"""mask_json_text: the fast path gives exactly json.dumps(mask_json(...)) text."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from slacklab.redact import MASK, mask_json, mask_json_text, register_secret
from slacklab.sim.scenario import build_scenario


def _slow(value: object) -> str:
    return json.dumps(mask_json(value), ensure_ascii=False, separators=(",", ":"))


def test_scenario_payloads_match_the_full_walk() -> None:
    for item in build_scenario(seed=5, events=300):
        payload = dict(item.payload)
        assert mask_json_text(payload) == _slow(payload)
        assert "SIMULATED-verification-token" not in mask_json_text(payload)


def test_secrets_anywhere_are_masked() -> None:
    register_secret('s3cr3t-"quoted\\-value')
    cases = [
        {"token": "abc", "event": {"token": "nested"}},
        {"event": {"text": "my token is xoxb-1234-5678"}},
        {"event": {"text": "\nxoxb-1234-5678 after an escape"}},
        {"url": "wss://x/link/?ticket=abc&app_id=A"},
        {"body": "a=1&token=zzz"},
        {"app_token": "xapp-1-A-1-zz", "text": "plain"},
        {"signing_secret": "whatever", "x": {"client_secret": "nested"}},
        {"text": 'contains s3cr3t-"quoted\\-value inside'},
        {"token": "", "bot_token": 5, "list": [{"token": "in a list"}]},
        {"tokens": ["a"], "note": "the word token alone"},
    ]
    for case in cases:
        assert mask_json_text(case) == _slow(case), case
    assert MASK in mask_json_text(cases[0])
    assert "xoxb-1234" not in mask_json_text(cases[2])
    assert "quoted" not in mask_json_text(cases[7])


_pieces = st.sampled_from(list('ab-=&"\\\n xoxptkenicsr_:é') + ["xoxb-", "xapp-", "token", "ticket=", "_secret"])
_text = st.lists(_pieces, max_size=12).map("".join)
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | _text,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(["token", "text", "a", "app_token", "client_secret", "x"]) | _text, children, max_size=4
        )
    ),
    max_leaves=20,
)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.sampled_from(["token", "text", "event", "bot_token"]) | _text, _json, max_size=6))
def test_fast_path_equals_full_walk(payload: dict) -> None:
    assert mask_json_text(payload) == _slow(payload)
