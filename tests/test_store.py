"""The data path's guarantees: nothing lost, snapshots are the caller's own, one schema everywhere, archives complete.

* an interrupted or failed snapshot loses no row (exceptions and KeyboardInterrupt, in conversion and after it);
* mutating a snapshot never touches the store or later snapshots;
* every accessor is safe while a writer thread appends;
* dtypes are identical for live, ``load()`` of a journal, HTTP logs, Parquet round trips and empty captures;
* journal format 2 keeps each frame's exact bytes; format 1 journals still load;
* an archive bigger than ``keep_rows`` is complete in DuckDB.
"""

from __future__ import annotations

import contextlib
import json
import threading
import warnings
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pytest

import slacklab
from slacklab import ingest
from slacklab.capture import Capture
from slacklab.http.logs import HttpLogWriter
from slacklab.http.request import CapturedRequest
from slacklab.journal import JournalWriter, read_journal
from slacklab.store import PANDAS_DTYPES
from slacklab.table import empty_frame

from .helpers import envelope, event_payload, slash_payload

T0 = 1_764_300_000.0


def frames(n: int, start: int = 0) -> list[str]:
    """``n`` envelope frames, every fifth a slash command, every seventh a retry."""
    out = []
    for i in range(start, start + n):
        if i % 5 == 4:
            out.append(envelope(slash_payload(trigger_id=f"{i}.trig"), f"env-{i}", kind="slash_commands"))
        else:
            retry = 1 if i % 7 == 6 else 0
            out.append(envelope(event_payload(f"Ev{i}", text=f"text {i}"), f"env-{i}", retry_attempt=retry))
    return out


def live(n: int, *, background: bool = True, **kwargs: object) -> Capture:
    cap = Capture(**kwargs)  # type: ignore[arg-type]
    with cap.building_paused() if not background else contextlib.nullcontext():
        for i, raw in enumerate(frames(n)):
            cap.add_raw(raw.encode(), received_at=T0 + i / 1000, connection="c1", ack_ms=0.25)
    return cap


# ------------------------------------------------------------------ integrity


@pytest.mark.parametrize("error", [RuntimeError("boom"), KeyboardInterrupt()])
@pytest.mark.parametrize("where", ["chunk", "convert", "frame"])
def test_an_interrupted_snapshot_loses_nothing(
    monkeypatch: pytest.MonkeyPatch, error: BaseException, where: str
) -> None:
    cap = live(1000, background=False)  # nothing built yet: the first snapshot builds it all
    target = {"chunk": (ingest, "chunk_from_rows"), "convert": (ingest, "make_row"), "frame": (cap._log.rows, "frame")}
    owner, name = target[where]
    real, calls = getattr(owner, name), [0]

    def failing(*args: object, **kwargs: object) -> object:
        calls[0] += 1
        if calls[0] == 700 if where == "convert" else calls[0] == 1:
            raise error
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, failing)
    with pytest.raises(type(error)):
        cap.df  # pressing Stop during a slow first snapshot
    assert len(cap) == 1000
    df = cap.df
    assert len(df) == 1000 and df["envelope_id"].tolist() == [f"env-{i}" for i in range(1000)]
    assert cap.n_events == len(set(df["event_key"]))


def test_a_failing_background_builder_loses_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    real, calls = ingest.chunk_from_rows, [0]

    def flaky(rows: list[dict]) -> object:
        calls[0] += 1
        if calls[0] <= 2:
            raise MemoryError("no room")
        return real(rows)

    monkeypatch.setattr(ingest, "chunk_from_rows", flaky)
    cap = live(3000)  # the builder starts in the background at 512 queued frames, and fails
    assert len(cap) == 3000
    for _attempt in range(3):  # a view that meets the failure raises it; the rows wait for the next one
        try:
            df = cap.df
            break
        except MemoryError:
            pass
    assert df["envelope_id"].tolist() == [f"env-{i}" for i in range(3000)]
    assert calls[0] > 2


def test_a_snapshot_is_the_callers_own() -> None:
    cap = live(50)
    df = cap.df
    df.loc[0, "event_type"] = "HACKED"
    df.loc[1, "ack_ms"] = 99.0
    df.loc[2, "retry_attempt"] = 42
    df.loc[3, "replayed"] = True
    df["received_at"] = pd.Timestamp(0, tz="UTC")
    with warnings.catch_warnings():  # pandas 3.1 deprecates inplace=; users still write it
        warnings.simplefilter("ignore")
        df.drop(columns=["payload"], inplace=True)
    again = cap.df
    assert "HACKED" not in set(again["event_type"]) and again["ack_ms"].eq(0.25).all()
    assert again["retry_attempt"].max() == 1 and again["replayed"].isna().all()
    assert again["received_at"].min() > pd.Timestamp(T0 - 1, unit="s", tz="UTC")
    assert "payload" in again.columns
    other = cap.df
    other.loc[0, "event_type"] = "ALSO"
    assert again.loc[0, "event_type"] == "message"  # two snapshots never see each other's writes
    cap.add_raw(frames(1, 50)[0], received_at=T0 + 1, connection="c1")
    assert len(cap.df) == 51 and cap.df.loc[0, "event_type"] == "message"


def test_every_accessor_is_safe_while_a_writer_appends() -> None:
    cap = Capture()
    cap.set_state("listening")
    payloads = frames(6000)
    errors: list[BaseException] = []

    def write() -> None:
        try:
            for i, raw in enumerate(payloads):
                cap.add_raw(raw if i % 2 else raw.encode(), received_at=T0 + i / 1000, connection="c1", ack_ms=0.3)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    writer = threading.Thread(target=write)
    writer.start()
    seen = 0
    while writer.is_alive() or seen < len(payloads):
        df = cap.df
        assert df["envelope_id"].tolist() == [f"env-{i}" for i in range(len(df))]  # in order, no gap, no double
        assert len(df) >= seen
        seen = len(df)
        assert len(cap) >= seen
        cap.events(), cap.counts(), cap.connections(), repr(cap), cap.n_events
    writer.join()
    assert not errors
    assert len(cap.sql("select * from deliveries")) == len(payloads)
    cap.set_state("stopped")


# ------------------------------------------------------------------ one schema


def journal_of(path: Path, raws: list[str]) -> None:
    writer = JournalWriter(path)
    writer.opened(T0 - 1, "c1")
    for i, raw in enumerate(raws):
        writer.frame(T0 + i / 1000, "c1", raw)
        writer.ack(T0 + i / 1000, "c1", f"env-{i}", 0.25)
    writer.close()


def test_dtypes_are_identical_everywhere(tmp_path: Path) -> None:
    cap = live(300)
    journal_of(tmp_path / "j.jsonl", frames(300))
    loaded = slacklab.load(tmp_path / "j.jsonl")
    pd.testing.assert_frame_equal(cap.df, loaded.df)
    cap.to_parquet(tmp_path / "c.parquet")
    again = slacklab.load(tmp_path / "c.parquet")
    pd.testing.assert_frame_equal(cap.df, again.df)
    assert again.n_events == cap.n_events and dict(again._type_counts) == dict(cap._type_counts)
    via_duckdb = Capture()
    via_duckdb.extend_arrow(pa.table(duckdb.sql(f"select * from read_parquet('{tmp_path / 'c.parquet'}')")))
    pd.testing.assert_frame_equal(cap.df, via_duckdb.df)

    log = HttpLogWriter(tmp_path / "http.jsonl")
    for i in range(5):
        body = json.dumps(event_payload(f"EvH{i}")).encode()
        log.write(
            CapturedRequest(T0 + i, "POST", "/slack/events", (("content-type", "application/json"),), body, 200, 1.5)
        )
    log.close()
    http = slacklab.load(tmp_path / "http.jsonl").df
    for df in (http, Capture().df, empty_frame(), live(1).df):
        assert dict(df.dtypes) == PANDAS_DTYPES
    # a capture snapshotted before its first delivery, and columns all empty in a batch
    early = Capture()
    early.df
    early.add_raw(envelope({"type": "event_callback"}, "e0"), received_at=T0, connection="c1")
    assert dict(early.df.dtypes) == PANDAS_DTYPES


# ------------------------------------------------------------------ journal formats


def test_format_2_embeds_the_frame_and_keeps_its_exact_bytes(tmp_path: Path) -> None:
    odd = [
        '{ "envelope_id" : "e1", "type":"events_api", "payload": {"t":"caf\u00e9 \\u00e9"} }',  # spaces, escapes
        '{"envelope_id":"e2",\n"type":"events_api","payload":{}}',  # two lines: kept as a string
        b'{"envelope_id":"e3","payload":{"x":"\xff"}}',  # not UTF-8: kept as base64
        "not json at all",
        '{"envelope_id":"e4","payload":{"broken": }',  # looks like an object, is not JSON: still exact
    ]
    path = tmp_path / "j.jsonl"
    writer = JournalWriter(path)
    for i, raw in enumerate(odd):
        writer.frame(T0 + i, "c1", raw)
    writer.close()
    lines = path.read_bytes().split(b"\n")
    assert json.loads(lines[0])["f"]["payload"] == {"t": "café é"}  # one parse gives the frame itself
    back = [r["raw"] for r in read_journal(path)]
    assert [b if isinstance(b, bytes) else b.encode() for b in back] == [
        r if isinstance(r, bytes) else r.encode() for r in odd
    ]
    cap = slacklab.load(path)
    assert cap.df["envelope_id"].tolist() == ["e1", "e2"]
    assert len(cap.problems()) == 3


V1_JOURNAL = """\
{"k":"open","t":1764300000.0,"c":"c1"}
{"k":"frame","t":1764300000.5,"c":"c1","raw":"{\\"type\\":\\"hello\\",\\"num_connections\\":1}"}
{"k":"frame","t":1764300001.0,"c":"c1","raw":"{\\"envelope_id\\":\\"e1\\",\\"type\\":\\"events_api\\",\
\\"payload\\":{\\"type\\":\\"event_callback\\",\\"event_id\\":\\"Ev1\\",\\"team_id\\":\\"T1\\",\
\\"event\\":{\\"type\\":\\"message\\",\\"text\\":\\"hi\\"}}}"}
{"k":"ack","t":1764300001.0,"c":"c1","env":"e1","ms":0.4}
{"k":"frame","t":1764300002.0,"c":"c1","raw":"{\\"envelope_id\\":\\"e2\\",\\"type\\":\\"events_api\\",\
\\"payload\\":{\\"type\\":\\"event_callback\\",\\"event_id\\":\\"Ev2\\"}}"}
{"k":"close","t":1764300003.0,"c":"c1","why":"closed (code 1000)"}
"""


def test_format_1_journals_still_load(tmp_path: Path) -> None:
    path = tmp_path / "v1.jsonl"
    path.write_text(V1_JOURNAL, encoding="utf-8")
    cap = slacklab.load(path)
    df = cap.df
    assert df["envelope_id"].tolist() == ["e1", "e2"] and df["event_type"].tolist()[0] == "message"
    assert df["ack_ms"].tolist()[0] == 0.4 and pd.isna(df["ack_ms"].tolist()[1])  # e2 was never acked
    conns = cap.connections()
    assert conns["num_connections"].tolist() == [1] and conns["deliveries"].tolist() == [2]
    assert conns["close_reason"].tolist() == ["closed (code 1000)"]
    assert dict(df.dtypes) == PANDAS_DTYPES


# ------------------------------------------------------------------ archive


def test_an_archive_bigger_than_keep_rows_is_complete_in_duckdb(tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    cap = live(5000, archive=archive, keep_rows=300)
    df = cap.df
    assert len(cap) == 5000 and len(df) == 300 and df.index[0] == 4700
    assert df["envelope_id"].iloc[-1] == "env-4999"
    assert "last 300 rows in memory" in repr(cap)
    assert cap.sql("select count(*) n, count(distinct envelope_id) d from deliveries").iloc[0].tolist() == [5000, 5000]
    assert sum(len(c) for c in cap._log.rows.state[0]) < 300 + 2 * ingest.RowLog.BATCH  # memory is bounded
    cap.set_state("stopped")  # stopping writes the rest
    on_disk = pa.table(duckdb.sql(f"select * from read_parquet('{archive}/*.parquet') order by received_at"))
    assert on_disk.num_rows == 5000
    full = live(5000)
    whole = Capture()
    whole.extend_arrow(on_disk)
    pd.testing.assert_frame_equal(whole.df, full.df)  # identical rows and dtypes
    pd.testing.assert_frame_equal(slacklab.load(archive).df, full.df)
    cap.to_parquet(tmp_path / "all.parquet")
    pd.testing.assert_frame_equal(slacklab.load(tmp_path / "all.parquet").df, full.df)


def test_keep_rows_needs_an_archive() -> None:
    with pytest.raises(ValueError, match="archive"):
        Capture(keep_rows=10)


def test_listen_writes_an_archive(tmp_path: Path) -> None:
    cap = slacklab.listen(events=40, duration=2.0, speed=None, archive=tmp_path / "a", keep_rows=10)
    try:
        assert cap.wait_for(40, timeout=30) >= 40
    finally:
        cap.stop()
    assert len(cap.df) == 10
    assert duckdb.sql(f"select count(*) from read_parquet('{tmp_path / 'a'}/*.parquet')").fetchall()[0][0] == len(cap)


def test_values_of_the_wrong_type_take_the_careful_path() -> None:
    from slacklab.schema import make_row
    from slacklab.table import deliveries_frame

    row = make_row(source="http", kind="events_api", payload={"type": "event_callback"}, received_at=T0)
    odd = dict(row, channel=123, retry_attempt=True, replayed="yes", ack_ms="fast", event_time=float("nan"))
    df = deliveries_frame([row, odd])
    assert dict(df.dtypes) == PANDAS_DTYPES
    assert df["channel"].tolist()[1] == "123"  # an id that arrived as a number is text
    assert pd.isna(df["retry_attempt"].iloc[1]) and pd.isna(df["replayed"].iloc[1])
    assert pd.isna(df["ack_ms"].iloc[1]) and pd.isna(df["event_time"].iloc[1])
