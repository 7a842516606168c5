"""Secret masking and safe CSV export."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from slacklab.capture import Capture
from slacklab.errors import ExportError
from slacklab.export import safe_cell, to_csv
from slacklab.redact import MASK, mask_headers, mask_json, mask_text, register_secret
from slacklab.schema import COLUMNS, make_row

from .helpers import event_payload

# Obviously fake tokens, shaped like the real ones so the patterns are exercised.
FAKE_TOKENS = ["xapp-1-AFAKE-0000-notreal", "xoxb-0000-fake-bot", "xoxp-1111-fake-user", "xoxe.xoxp-1-fake"]


class TestRedact:
    @pytest.mark.parametrize("token", FAKE_TOKENS[:3])
    def test_tokens_are_masked(self, token: str) -> None:
        out = mask_text(f"Bearer {token} and more")
        assert token not in out and token.split("-")[0] + "-" + MASK in out

    def test_ticket_and_token_field_and_form_token(self) -> None:
        assert "abc123" not in mask_text("wss://x/link/?ticket=abc123&app_id=A1")
        assert mask_text('{"token": "s3cretvalue", "a": 1}') == '{"token": "' + MASK + '", "a": 1}'
        assert mask_text("token=s3cret&team_id=T1") == f"token={MASK}&team_id=T1"
        assert mask_text("a=1&token=s3cret") == f"a=1&token={MASK}"

    def test_token_field_cut_short_or_inside_a_json_string(self) -> None:
        """Regression: a frame cut inside the verification token's value, or JSON quoted in JSON, showed it."""
        assert (
            mask_text('{"envelope_id": "e1", "payload": {"token": "s3cretvalu')
            == '{"envelope_id": "e1", "payload": {"token": "' + MASK
        )
        assert (
            mask_text('{"raw": "{\\"token\\": \\"s3cretvalue\\"}"}') == '{"raw": "{\\"token\\": \\"' + MASK + '\\"}"}'
        )

    def test_ordinary_text_is_untouched(self) -> None:
        for text in ["the token ring", "xapp is cool", "box-office", "tokenize=1", ""]:
            assert mask_text(text) == text

    def test_registered_secret(self) -> None:
        register_secret("fake-signing-secret-9f8e")
        assert "fake-signing-secret-9f8e" not in mask_text("secret is fake-signing-secret-9f8e!")
        register_secret("abc")  # too short to mask safely: ignored
        assert mask_text("abc") == "abc"

    def test_json_keys_and_nested_values(self) -> None:
        out = mask_json({"token": "v", "nested": [{"bot_token": "xoxb-1234-fake"}, "xoxp-9999-fake"], "n": 1})
        assert out == {"token": MASK, "nested": [{"bot_token": MASK}, f"xoxp-{MASK}"], "n": 1}

    def test_headers(self) -> None:
        out = dict(
            mask_headers(
                [
                    ("Authorization", "Bearer xoxb-1-2"),
                    ("COOKIE", "a=b"),
                    ("X-Slack-Signature", "v0=abc"),
                    ("X-Other", "xapp-1-AFAKE-0"),
                ]
            )
        )
        assert out["Authorization"] == out["COOKIE"] == out["X-Slack-Signature"] == MASK
        assert out["X-Other"] == f"xapp-{MASK}"


class TestSafeCell:
    @pytest.mark.parametrize("text", ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx", '=HYPERLINK("http://x")'])
    def test_formulas_are_neutralised(self, text: str) -> None:
        assert safe_cell(text) == "'" + text

    @pytest.mark.parametrize("value", ["hello", "a=b", "", 5, None, "  =not first"])
    def test_others_pass(self, value: object) -> None:
        assert safe_cell(value) == value


def capture_with_hostile_text() -> Capture:
    cap = Capture()
    texts = [
        "=cmd|' /C calc'!A0",
        "+SUM(1)",
        "-2+3",
        "@me",
        "\tTab",
        "naïve café ☕",
        'plain, with "quotes"\nnewline',
        f"my token is {FAKE_TOKENS[1]}",
    ]
    for i, text in enumerate(texts):
        cap.record_delivery(
            make_row(
                source="socket",
                kind="events_api",
                payload=event_payload(f"Ev{i}", text=text),
                received_at=1_700_000_000.5 + i,
                envelope_id=f"e{i}",
                ack_ms=0.5,
            )
        )
    return cap


class TestCsv:
    def test_round_trip_and_safety(self, tmp_path: Path) -> None:
        cap = capture_with_hostile_text()
        path = cap.to_csv(tmp_path / "out" / "d.csv")
        raw = path.read_text(encoding="utf-8")
        for token in FAKE_TOKENS:
            assert token not in raw
        assert "fake-verification-token" not in raw  # the payload's token field
        back = pd.read_csv(path, keep_default_na=False)
        assert list(back.columns) == list(COLUMNS)
        assert len(back) == len(cap)
        assert back.loc[0, "text"] == "'=cmd|' /C calc'!A0"
        assert back.loc[5, "text"] == "naïve café ☕"
        assert back.loc[6, "text"] == 'plain, with "quotes"\nnewline'
        assert back.loc[0, "received_at"] == "2023-11-14T22:13:20.500000Z"
        for value in back.to_numpy().ravel():
            assert not (isinstance(value, str) and value[:1] in ("=", "+", "@", "\t", "\r"))

    def test_columns_and_events_view(self, tmp_path: Path) -> None:
        cap = capture_with_hostile_text()
        path = cap.to_csv(tmp_path / "e.csv", view="events", columns=["event_id", "text", "deliveries"])
        back = pd.read_csv(path)
        assert list(back.columns) == ["event_id", "text", "deliveries"]
        with pytest.raises(ValueError, match="unknown column"):
            cap.to_csv(tmp_path / "x.csv", columns=["nope"])
        with pytest.raises(ValueError, match="view"):
            cap.to_csv(tmp_path / "x.csv", view="nope")

    def test_refuses_to_overwrite_when_asked(self, tmp_path: Path) -> None:
        path = tmp_path / "d.csv"
        path.write_text("keep me")
        with pytest.raises(ExportError, match="already exists"):
            to_csv(capture_with_hostile_text().df, path, overwrite=False)
        assert path.read_text() == "keep me"

    def test_unwritable_destination_is_a_clear_error(self, tmp_path: Path) -> None:
        (tmp_path / "file").write_text("x")
        with pytest.raises(ExportError, match="cannot write"):
            to_csv(capture_with_hostile_text().df, tmp_path / "file" / "d.csv")
