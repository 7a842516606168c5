"""Real Slack material, read where it lies: every payload lands in the documented columns.

The material (frames and bodies from Slack's Python SDK and Bolt test suites, Slack's
documentation examples, another client library's golden webhook bodies, captures in
the formats users have) sits in ``../shared/real-slack`` beside the repository when
it is available (or where ``SLACKLAB_REAL_SLACK`` says); it is never copied into the
repository. Without it these tests skip.

Three checks:

* each source file's payload extracts to the expected columns (the table below,
  read off the payload and Slack's field reference);
* every capture file there loads with every delivery typed, and the same payloads
  give the same columns whichever file carried them;
* the simulator's payload for each family has every key path the real one has
  (besides the few optional members listed, with the reason).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import slacklab
from slacklab.fields import extract
from slacklab.http.request import classify_body
from slacklab.protocol import Envelope, parse_frame
from slacklab.sim.scenario import ScenarioBuilder, Workspace

# ``../shared/real-slack`` from the repository root; SLACKLAB_REAL_SLACK points elsewhere (a git worktree).
REAL = Path(os.environ.get("SLACKLAB_REAL_SLACK") or Path(__file__).parents[2] / "shared" / "real-slack")
SOURCES = REAL / "sources"
SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"  # Slack's documented example secret
pytestmark = pytest.mark.skipif(
    not SOURCES.is_dir(), reason=f"real Slack material not available at {REAL} (it is not part of the repository)"
)


def real_payload(stem: str) -> tuple[str, dict[str, Any]]:
    """``(kind, payload)`` of one source file: a Socket Mode frame's envelope or an HTTP body."""
    path = SOURCES / (stem + (".frame.json" if (SOURCES / f"{stem}.frame.json").exists() else ".body.json"))
    text = json.loads(path.read_text(encoding="utf-8"))["text"]
    if path.name.endswith(".frame.json"):
        frame = parse_frame(text)
        assert isinstance(frame, Envelope), path.name
        return frame.type, frame.payload
    found = classify_body(None, text.encode())
    assert found is not None, path.name
    return found


# stem -> columns it must fill (None: must stay empty)
EXPECTED: dict[str, dict[str, Any]] = {
    "bolt_assistant_thread_started": {
        "event_type": "assistant_thread_started",
        "user": "W222",
        "channel": "D111",
        "thread_ts": "1726133698.626339",
        "event_ts": "1726133698.665188",
        "enterprise_id": "E111",
        "is_enterprise_install": False,
    },
    "bolt_block_actions": {
        "event_subtype": "a",
        "ts": "111.222",
        "event_ts": "1596530385.194939",
        "channel": "C111",
        "user": "W111",
        "enterprise_id": "E111",
    },
    "bolt_block_suggestion": {"event_type": "block_suggestion", "event_subtype": "es_a", "text": "search word"},
    "docs_block_suggestion": {"event_subtype": "seach-action", "user": "U123ABC456", "team_id": "T123ABC456"},
    "bolt_file_share": {"event_subtype": "file_share", "user": "U111", "channel": "C111", "text": "Hi there!"},
    "docs_file_shared": {
        "event_type": "file_shared",
        "user": "U0Z7K8SRH",
        "channel": "D01315BHHSN",
        "event_ts": "1617804931.000300",
    },
    "bolt_global_shortcut": {
        "event_type": "shortcut",
        "event_subtype": "test-shortcut",
        "event_ts": "111.111",
        "enterprise_id": "E111",
        "channel": None,
    },
    "sdk_shortcut": {"event_subtype": "do-something", "is_enterprise_install": False, "enterprise_id": None},
    "bolt_message_shortcut": {
        "event_type": "message_action",
        "ts": "1583636382.000300",
        "event_ts": "1583637157.207593",
        "text": "<@W222> test",
        "channel": "C111",
    },
    "bolt_message_changed": {
        "event_subtype": "message_changed",
        "ts": "1665102338.901939",
        "event_ts": "1665102362.013600",
        "text": "updated message",
        "user": "U111",
        "enterprise_id": "E111",
        "is_ext_shared_channel": False,
    },
    "mercury_messageChange": {"ts": "1663969333.524439", "event_ts": "1663969334.001500", "user": "U043H11ES4V"},
    "bolt_message_deleted": {
        "event_subtype": "message_deleted",
        "ts": "1665368619.804829",
        "event_ts": "1665368629.007100",
        "user": "U111",
    },
    "bolt_org_message": {"enterprise_id": "E111", "is_enterprise_install": True, "user": "W111"},
    "bolt_org_team_access_granted": {"event_type": "team_access_granted", "enterprise_id": "E111", "team_id": None},
    "bolt_reaction_added": {"channel": "C111", "ts": "1599529504.000400", "event_ts": "1599616881.000800"},
    "bolt_shared_app_mention": {"team_id": "T_INSTALLED", "enterprise_id": "E_INSTALLED", "user": "W222"},
    "bolt_shared_member_joined": {"team_id": "T_SOURCE", "enterprise_id": "E_SOURCE", "user": "U999", "ts": None},
    "bolt_slash_command": {"event_type": "/hello-world", "enterprise_id": "E111", "text": "Hi", "user": "W111"},
    "bolt_thread_broadcast": {"event_subtype": "thread_broadcast", "thread_ts": "1633663824.000500"},
    "bolt_url_verification": {"event_type": "url_verification", "event_id": None},
    "bolt_view_submission": {"event_type": "view_submission", "event_subtype": "view-id", "ts": None},
    "bolt_retry_message": {"user": "U111", "is_enterprise_install": False, "is_ext_shared_channel": False},
    "docs_app_rate_limited": {"event_type": "app_rate_limited", "team_id": "T123456", "api_app_id": "A123456"},
    "docs_slash_commands": {"event_type": "/randorilke", "channel": "C123ABC456", "text": ""},
    "docs_signing_vector": {"event_type": "/webhook-collect", "channel": "G8PSS9T3V"},
    "mercury_app_home_opened_home": {"event_type": "app_home_opened", "user": "U043H11ES4V", "channel": "D0442US94JD"},
    "mercury_channel_shared": {"channel": "C123ABC456", "is_ext_shared_channel": True},
    "mercury_joinChannel": {"event_subtype": "channel_join", "user": "U0442US8QGH"},
    "mercury_messageIm": {"channel": "D0442US94JD", "text": "test"},
    "mercury_message_subtype_bot_message": {
        "bot_id": "B07JWPS5Y5S",
        "user": None,
        "context_team_id": "T043DB835ML",
        "context_enterprise_id": None,
    },
    "sdk_app_mention": {"event_type": "app_mention", "ts": "1610241741.000200"},
    "sdk_message": {"event_type": "message", "user": "U222"},
    "sdk_slash_commands": {"event_type": "/hello-socket-mode", "trigger_id": "111.222.xxx"},
}


def payload_sources() -> Iterator[str]:
    for path in sorted(SOURCES.glob("*.json")) if SOURCES.is_dir() else []:
        text = json.loads(path.read_text(encoding="utf-8")).get("text")
        if not isinstance(text, str):
            continue  # provenance notes
        if path.name.endswith(".frame.json") and not isinstance(parse_frame(text), Envelope):
            continue  # hello / disconnect frames carry no payload
        yield path.name.split(".")[0]


@pytest.mark.parametrize("stem", list(payload_sources()))
def test_every_real_payload_has_expectations_and_meets_them(stem: str) -> None:
    assert stem in EXPECTED, f"new real material {stem}: add what it must extract to EXPECTED"
    kind, payload = real_payload(stem)
    fields = extract(kind, payload)
    assert fields["event_type"]
    assert {k: fields[k] for k in EXPECTED[stem]} == EXPECTED[stem]
    # generic: every documented wrapper field present in the payload lands in its column
    for column in ("enterprise_id", "context_team_id", "context_enterprise_id", "event_id", "api_app_id"):
        if isinstance(payload.get(column), str):
            assert fields[column] == payload[column], column
    if isinstance(payload.get("is_ext_shared_channel"), bool):
        assert fields["is_ext_shared_channel"] is payload["is_ext_shared_channel"]


def test_no_expectation_without_its_file() -> None:
    assert set(EXPECTED) == set(payload_sources())


FIXTURES = sorted(p for p in (REAL / "fixtures").glob("*/*") if p.is_file()) if REAL.is_dir() else []


@pytest.mark.parametrize("path", FIXTURES, ids=[p.name for p in FIXTURES])
def test_capture_files_load_with_every_delivery_typed(path: Path) -> None:
    df = slacklab.load(path, signing_secret=SIGNING_SECRET).df
    assert len(df) > 0
    assert df["event_type"].notna().all()
    assert df["kind"].notna().all()
    messages = df[(df["kind"] == "events_api") & df["event_type"].isin(["message", "app_mention"])]
    assert messages["ts"].notna().all() and messages["channel"].notna().all()
    # whichever file carried it, a payload gives the columns its source file gives
    for _, row in df.iterrows():
        payload = json.loads(row["payload"]) if isinstance(row["payload"], str) else row["payload"]
        if row["event_type"] == "file_shared":
            assert row["user"] == "U0Z7K8SRH"
        if row["event_type"] == "message_action":
            assert row["ts"] == payload["message_ts"]
        if row["event_subtype"] == "message_deleted":
            assert row["ts"] == payload["event"]["deleted_ts"]


# ------------------------------------------------- the simulator speaks the same shapes


def key_paths(value: Any, prefix: str = "") -> set[str]:
    """Dotted key paths of a JSON value; list items share ``[]``."""
    paths: set[str] = set()
    if isinstance(value, dict):
        for key, child in value.items():
            path = f"{prefix}.{key}" if prefix else key
            paths.add(path)
            paths |= key_paths(child, path)
    elif isinstance(value, list):
        for child in value:
            paths |= key_paths(child, f"{prefix}[]")
    return paths


def simulated(family: str, grid: bool = False) -> dict[str, Any]:
    """The simulator's payload for one family (a fresh builder each time)."""
    ws = Workspace.enterprise() if grid else Workspace()
    b = ScenarioBuilder(seed=1, workspace=ws)
    first = b.message(0.0, "hello")
    parent = b.message(0.5, "write in the thread")
    makers = {
        "message": lambda: first,
        "message_changed": lambda: b.edit(1.0, first, "hello (edited)"),
        "message_deleted": lambda: b.delete(1.0, first),
        "thread_broadcast": lambda: b.reply(1.0, parent, "done", broadcast=True),
        "bot_message": lambda: b.bot_message(1.0, "Build passed"),
        "channel_join": lambda: (b.join(1.0, inviter="bob"), b.items[-1])[1],
        "file_share": lambda: b.file_share(1.0, "chart.png", "Hi there!"),
        "file_shared": lambda: (b.file_share(1.0, "chart.png"), b.items[-1])[1],
        "reaction_added": lambda: b.reaction(1.0, first, "tada"),
        "app_mention": lambda: b.app_mention(1.0, "help"),
        "member_joined_channel": lambda: b.join(1.0, inviter="bob", with_message=False),
        "app_home_opened": lambda: b.app_home_opened(1.0),
        "channel_shared": lambda: b.channel_shared(1.0),
        "assistant_thread_started": lambda: b.assistant_thread_started(1.0),
        "app_rate_limited": lambda: b.app_rate_limited(1.0),
        "slash": lambda: b.slash(1.0, "/deploy", "api"),
        "block_actions": lambda: b.block_action(1.0, "approve"),
        "block_suggestion": lambda: b.block_suggestion(1.0, "search", "ab"),
        "shortcut": lambda: b.shortcut(1.0, "new_ticket"),
        "message_action": lambda: b.message_action(1.0, first, "summarise"),
        "view_submission": lambda: b.view_submission(1.0, "ticket_modal"),
    }
    return dict(makers[family]().payload)


# real source -> (simulator family, Grid workspace?, key paths the simulator may leave out, and why)
SHAPES: dict[str, tuple[str, bool, set[str]]] = {
    "sdk_message": ("message", False, set()),
    "mercury_messageIm": ("message", False, set()),
    "bolt_message_changed": ("message_changed", True, set()),
    "mercury_messageChange": (
        "message_changed",
        False,
        {"event.message.attachments"},  # only when the edit unfurls a link
    ),
    "bolt_message_deleted": ("message_deleted", True, set()),
    "bolt_thread_broadcast": ("thread_broadcast", True, set()),
    "mercury_message_subtype_bot_message": ("bot_message", False, set()),
    "mercury_joinChannel": ("channel_join", False, set()),
    "bolt_file_share": ("file_share", False, set()),
    "docs_file_shared": ("file_shared", False, {"authed_users"}),  # deprecated wrapper field
    "bolt_reaction_added": ("reaction_added", True, {"authed_users"}),
    "sdk_app_mention": ("app_mention", False, set()),
    "bolt_shared_member_joined": ("member_joined_channel", True, set()),
    "mercury_app_home_opened_home": ("app_home_opened", False, set()),
    "mercury_channel_shared": ("channel_shared", False, set()),
    "bolt_assistant_thread_started": ("assistant_thread_started", True, set()),
    "docs_app_rate_limited": ("app_rate_limited", False, set()),
    "sdk_slash_commands": ("slash", False, set()),
    "bolt_slash_command": ("slash", True, set()),
    "bolt_block_actions": ("block_actions", True, set()),
    "bolt_block_suggestion": ("block_suggestion", True, set()),
    "bolt_global_shortcut": ("shortcut", True, set()),
    "bolt_message_shortcut": ("message_action", True, set()),
    "bolt_view_submission": ("view_submission", True, set()),
}


def _generic(paths: set[str]) -> set[str]:
    """Drop paths under free-form members whose keys are the app's own (block ids, state values, file thumbs)."""
    free = (".state.values.", "blocks[].", "attachments[].", ".files[].thumb", "elements[].")
    out = set()
    for p in paths:
        if any(f in p for f in free) or p.split(".")[-1].startswith("thumb_"):
            continue
        out.add(p)
    return out


@pytest.mark.parametrize("stem", list(SHAPES))
def test_simulator_payload_has_the_real_key_paths(stem: str) -> None:
    family, grid, optional = SHAPES[stem]
    _, real = real_payload(stem)
    missing = _generic(key_paths(real)) - key_paths(simulated(family, grid)) - optional
    missing = {p for p in missing if not any(p.startswith(o + ".") for o in optional)}
    assert missing == set(), f"the simulator's {family} lacks {sorted(missing)}"
