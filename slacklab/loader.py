"""One loader for every file slacklab can read: :func:`load`.

It looks at the content, not the file name:

* a Socket Mode **journal** written by :func:`slacklab.listen` (or the CLI's
  ``--journal``) goes through :func:`slacklab.journal.load_journal`, the same
  code path the live listener uses;
* a **Parquet** file written by ``capture.to_parquet()``, or a folder of
  Parquet segments (a capture's ``archive=``), goes through
  :func:`slacklab.archive.read_parquet`;
* anything else is read as an **HTTP request log** by
  :func:`slacklab.http.logs.read_http_log`: HAR (``.har``/``.zhar``), an ngrok
  export, or the receiver's JSON Lines log.

Every result is a :class:`~slacklab.capture.Capture` with the same columns.
"""

from __future__ import annotations

from pathlib import Path

from slacklab.archive import PARQUET_MAGIC, read_parquet
from slacklab.capture import Capture
from slacklab.errors import LogFormatError
from slacklab.http.logs import read_http_log
from slacklab.journal import is_journal_record, load_journal

__all__ = ["load"]


def load(path: str | Path, signing_secret: str | None = None) -> Capture:
    """Load a journal, an HTTP log (HAR, ngrok export, receiver JSONL) or Parquet into a capture.

    Args:
        path: the file (or a folder of Parquet segments).
        signing_secret: checks HTTP request signatures (``signature`` column);
            ignored for journals. Without it HTTP rows say ``unchecked``.

    Raises:
        LogFormatError: the file cannot be read, naming the file and the line or entry.
    """
    path = Path(path)
    if path.is_dir():
        return _load_parquet(path)
    try:
        with path.open("rb") as handle:
            head = handle.readline(64 * 1024 * 1024)
    except OSError as exc:
        raise LogFormatError(path, None, f"cannot open the file ({exc.strerror or exc})") from exc
    if head.startswith(PARQUET_MAGIC):
        return _load_parquet(path)
    if is_journal_record(head):
        return load_journal(path)
    return read_http_log(path, signing_secret)


def _load_parquet(path: Path) -> Capture:
    table = read_parquet(path)
    sources = set(table.column("source").unique().to_pylist()) - {None}
    capture = Capture(source="http" if sources == {"http"} else "socket", label=path.name)
    capture.extend_arrow(table)
    capture.set_state("loaded", f"loaded from {path.name}")
    return capture
