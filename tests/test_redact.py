"""Masking: every pattern and secret key (table-driven), the log filter, and the fast path = the full walk."""

from __future__ import annotations

import json
import logging

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from slacklab.redact import (
    MASK,
    SecretLogFilter,
    install_log_filter,
    is_secret_key,
    mask_json,
    mask_json_text,
    mask_text,
    register_secret,
)
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


_pieces = st.sampled_from(
    list('ab-=&"\\\n xoxptkenicsr_:é/%')
    + ["xoxb-", "xoxc-", "xoxd-", "xapp-", "token", "ticket=", "_secret", "hooks.slack.com/", "\\/", "%2F", "services/"]
)
_text = st.lists(_pieces, max_size=12).map("".join)
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | _text,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(["token", "text", "a", "app_token", "client_secret", "bot_access_token", "secret", "x"])
            | _text,
            children,
            max_size=4,
        )
    ),
    max_leaves=20,
)


@settings(max_examples=400, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["token", "text", "event", "bot_token", "access_token", "response_url"]) | _text,
        _json,
        max_size=6,
    )
)
def test_fast_path_equals_full_walk(payload: dict) -> None:
    assert mask_json_text(payload) == _slow(payload)


# (text, what must be gone, what must stay)
TEXT_CASES = [
    ("session xoxc-1234-5678-abcd here", "1234-5678-abcd", "xoxc-" + MASK),
    ("cookie xoxd-abcd%2Bef%3D;", "abcd%2Bef", "xoxd-" + MASK + ";"),
    ("refresh xoxe-1-abcdef and xoxe.xoxp-1-qwerty", "abcdef", "xoxe.xoxp-" + MASK),
    ("workflow xwfp-1-zzzzzz", "zzzzzz", "xwfp-" + MASK),
    ("https://hooks.slack.com/commands/T1/2/abcDEF", "abcDEF", "https://hooks.slack.com/commands/" + MASK),
    ("see https://hooks.slack.com/services/T00/B00/XXsecretXX now", "XXsecretXX", "/services/" + MASK + " now"),
    ("https://hooks.slack.com/triggers/T1/2/trigsecret", "trigsecret", "/triggers/" + MASK),
    ("https://hooks.slack-gov.com/actions/T1/2/govsecret", "govsecret", "slack-gov.com/actions/" + MASK),
    ('{"response_url":"https:\\/\\/hooks.slack.com\\/actions\\/T1\\/2\\/esc"}', "esc", "actions\\/" + MASK + '"}'),
    ("response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1%2F2%2Fform&x=1", "form&", "%2F" + MASK + "&x=1"),
    ('{"p": "{\\"u\\": \\"https://hooks.slack.com/services/T/B/inner\\"}"}', "inner", MASK + '\\"}"}'),
    ('{"bot_access_token": "noshape", "x": 1}', "noshape", '"bot_access_token": "' + MASK),
    ('{"client_secret":"cs123456"}', "cs123456", '"client_secret":"' + MASK),
    ('{\\"access_token\\": \\"escaped1\\"}', "escaped1", MASK),
    ("client_id=1&client_secret=abcdef&code=2", "abcdef", "client_secret=" + MASK + "&code=2"),
    ("the word token and a secret, harmless", "", "the word token and a secret, harmless"),
]


@pytest.mark.parametrize(("text", "gone", "kept"), TEXT_CASES)
def test_text_patterns(text: str, gone: str, kept: str) -> None:
    masked = mask_text(text)
    if gone:
        assert gone not in masked
    assert kept in masked


@pytest.mark.parametrize(
    ("key", "secret"),
    [
        ("token", True),
        ("bot_access_token", True),
        ("access_token", True),
        ("refresh_token", True),
        ("client_secret", True),
        ("signing_secret", True),
        ("secret", True),
        ("tokens", False),  # tokens_revoked lists user ids under "tokens"
        ("token_type", False),
        ("text", False),
        (1, False),
    ],
)
def test_secret_keys(key: object, secret: bool) -> None:
    assert is_secret_key(key) is secret
    masked = mask_json({key: "value123", "nested": [{key: "value123"}]})
    assert (json.dumps(masked).count("value123") == 0) is secret


def test_log_filter_masks_library_records(caplog: pytest.LogCaptureFixture) -> None:
    names = install_log_filter()
    assert {"websockets.client", "slack_sdk.web.base_client"} <= set(names)
    install_log_filter()  # twice: still one filter
    logger = logging.getLogger("websockets.client")
    assert sum(isinstance(f, SecretLogFilter) for f in logger.filters) == 1
    with caplog.at_level(logging.DEBUG, logger="websockets"):
        logger.debug("> GET /link/?ticket=%s&app_id=%s HTTP/1.1", "abc-123-def", "A1")
        logging.getLogger("slack_sdk.web.base_client").debug(
            'body: {"ok": true, "url": "wss://x/link/?ticket=t-9"} auth xoxb-1-2-3-4'
        )
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "abc-123-def" not in text and "t-9" not in text and "xoxb-1-2" not in text
    assert "app_id=A1" in text and "ticket=" + MASK in text
