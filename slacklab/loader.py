"""One loader for every file slacklab can read: :func:`load`.

It looks at the content, not the file name:

* a Socket Mode **journal** written by :func:`slacklab.listen` (or the CLI's
  ``--journal``) goes through :func:`slacklab.journal.load_journal`, the same
  code path the live listener uses;
* anything else is read as an **HTTP request log** by
  :func:`slacklab.http.logs.read_http_log`: HAR (``.har``/``.zhar``), an ngrok
  export, or the receiver's JSON Lines log.

Every result is a :class:`~slacklab.capture.Capture` with the same columns.
"""

from __future__ import annotations

from pathlib import Path

from slacklab.capture import Capture
from slacklab.errors import LogFormatError
from slacklab.http.logs import read_http_log
from slacklab.journal import is_journal_record, load_journal

__all__ = ["load"]


def load(path: str | Path, signing_secret: str | None = None) -> Capture:
    """Load a journal or an HTTP log (HAR, ngrok export, receiver JSONL) into a capture.

    Args:
        path: the file.
        signing_secret: checks HTTP request signatures (``signature`` column);
            ignored for journals. Without it HTTP rows say ``unchecked``.

    Raises:
        LogFormatError: the file cannot be read, naming the file and the line or entry.
    """
    path = Path(path)
    try:
        with path.open("rb") as handle:
            head = handle.readline(64 * 1024 * 1024)
    except OSError as exc:
        raise LogFormatError(path, None, f"cannot open the file ({exc.strerror or exc})") from exc
    if is_journal_record(head):
        return load_journal(path)
    return read_http_log(path, signing_secret)
