"""slacklab's exceptions, in one place.

The hierarchy::

    SlacklabError
    ├── TokenError            the app token is missing or is not an ``xapp-`` token
    ├── SlackAPIError         apps.connections.open answered ok=false (``.error`` is Slack's code)
    ├── ListenerStopped       the listener stopped for a reason the user must act on
    ├── StartError            listen() or a listener could not start (nothing it started is left running)
    │   └── JournalError      the journal file could not be opened for appending (``.path``)
    ├── LogFormatError        a journal or HTTP request log could not be read (``.path``, ``.location``)
    ├── ResponderError        a responder (``cap.respond``) cannot be registered as asked
    └── ExportError           a CSV/HTML export could not be written (``.path``)

Messages never contain a token or a signing secret: they name the *kind* of
credential and where it came from, never its value.
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "ExportError",
    "JournalError",
    "ListenerStopped",
    "LogFormatError",
    "ResponderError",
    "SlackAPIError",
    "SlacklabError",
    "StartError",
    "TokenError",
]


class SlacklabError(Exception):
    """Base class of every error slacklab raises on purpose."""


class TokenError(SlacklabError, ValueError):
    """The app-level token is missing or malformed (its value is never shown)."""


class SlackAPIError(SlacklabError):
    """A Web API call (``apps.connections.open``) answered ``ok: false``.

    Attributes:
        error: Slack's error code, such as ``invalid_auth`` or ``ratelimited``.
        retry_after: seconds Slack asked us to wait, for ``ratelimited``.
    """

    def __init__(self, error: str, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.error = error
        self.retry_after = retry_after


class ListenerStopped(SlacklabError):
    """The listener stopped by itself; ``.reason`` says why in plain words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class StartError(SlacklabError):
    """:func:`slacklab.listen` or :meth:`Listener.start` could not start; what it had started is stopped again."""


class JournalError(StartError):
    """The journal could not be opened for appending.

    Attributes:
        path: the journal file.
        problem: what went wrong, in plain words.
    """

    def __init__(self, path: str | Path, problem: str) -> None:
        super().__init__(
            f"cannot open the journal {path}: {problem}. Choose another path (journal=...) and start again."
        )
        self.path = Path(path)
        self.problem = problem


class LogFormatError(SlacklabError, ValueError):
    """A journal or HTTP log file is broken.

    Attributes:
        path: the file.
        location: where in it (``"line 12"``, ``"entry 3"``), or ``None``.
    """

    def __init__(self, path: str | Path, location: str | None, problem: str) -> None:
        where = f"{path}" + (f", {location}" if location else "")
        super().__init__(f"{where}: {problem}")
        self.path = Path(path)
        self.location = location
        self.problem = problem


class ResponderError(SlacklabError, ValueError):
    """A responder cannot be registered (:meth:`Capture.respond <slacklab.capture.Capture.respond>`): the message says why."""


class ExportError(SlacklabError, OSError):
    """An export could not be written (for example the file exists and ``force`` is off)."""
