"""Terminal plumbing for the ``slacklab`` command (:mod:`slacklab.cli.commands`): nothing here knows a subcommand.

* :class:`CtrlC` — Ctrl+C as a flag a long-running command checks (a second
  Ctrl+C interrupts at once), so stopping never ends in a traceback and what
  was captured is still written;
* :class:`Progress` — one live status line (a line every few seconds when not
  on a terminal), with the capture's last error in plain words while it is not
  connected;
* :func:`run_until` — wait for a capture to reach a count, a duration, an
  outside condition, Ctrl+C, or too long without a connection; says which;
* :func:`check_output_file` / :func:`check_output_folder` — refuse an output
  path before any work is done, in words ("out is a file, not a folder");
* :func:`describe_error` — the one line a user sees for an error;
* the steps several subcommands share (:func:`summary_table`, :func:`new_folder`,
  :func:`signature_line`) and argparse pieces (:class:`Parser`, :func:`number`,
  :func:`port`, :func:`two_labels`) that turn a mistake into one clear line.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn, TextIO

from slacklab.capture import Capture
from slacklab.errors import SlacklabError
from slacklab.redact import mask_text
from slacklab.table import format_ms

__all__ = [
    "EXIT_ERROR",
    "EXIT_INTERRUPTED",
    "INTERRUPTED",
    "CtrlC",
    "Parser",
    "Progress",
    "check_output_file",
    "check_output_folder",
    "describe_error",
    "new_folder",
    "number",
    "port",
    "run_until",
    "signature_line",
    "summary_table",
    "two_labels",
]

EXIT_ERROR = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what shells report for a command stopped with Ctrl+C


class CtrlC:
    """While active, the first Ctrl+C only sets :attr:`pressed`; a second one raises ``KeyboardInterrupt``.

    ``KeyboardInterrupt`` lands wherever the main thread happens to be (inside
    a progress update, a ``stop()``, a CSV write), so a command that must tidy
    up after Ctrl+C turns it into a flag it checks between steps. Outside the
    main thread (a test calling :func:`slacklab.cli.commands.main` from a thread) it
    does nothing: signals only reach the main thread anyway.
    """

    def __init__(self) -> None:
        self._event = threading.Event()
        self._previous: Any = None
        self._installed = False

    @property
    def pressed(self) -> bool:
        return self._event.is_set()

    def wait(self, timeout: float) -> bool:
        """Sleep up to ``timeout`` seconds, waking at once on Ctrl+C; True when it was pressed."""
        return self._event.wait(timeout)

    def _handle(self, _signum: int, _frame: FrameType | None) -> None:
        if self._event.is_set():
            raise KeyboardInterrupt  # pressed twice: the user really wants out
        self._event.set()

    def __enter__(self) -> CtrlC:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
            self._installed = True
        return self

    def __exit__(self, *exc: object) -> None:
        if self._installed:
            signal.signal(signal.SIGINT, self._previous)
            self._installed = False


_CONNECTED_STATES = ("listening", "receiving")
INTERRUPTED = "stopped by you (Ctrl+C)"


class Progress:
    """One live status line on a terminal; a line every ``every`` seconds elsewhere (CI logs, pipes)."""

    def __init__(self, out: TextIO, every: float = 2.0) -> None:
        self.out = out
        self.tty = out.isatty()
        self.every = every
        self._last = 0.0
        self._width = 0

    def line(self, capture: Capture) -> str:
        """The status text: counts, rate, connections, state, and why it is not connected (if it is not)."""
        s = capture._summary()
        ack = f" · last ack {format_ms(s['last_ack_ms'])}" if s["last_ack_ms"] is not None else ""
        conns = f" · {s['open']} open / {s['connections']} connections" if capture.source == "socket" else ""
        text = (
            f"  {s['deliveries']:>6} deliveries · {s['events']:>6} events · {capture.rate(5):6.1f}/s"
            f"{conns}{ack} · {s['state']}"
        )
        if s["state"] not in _CONNECTED_STATES and s["detail"]:
            text += f": {mask_text(str(s['detail']))}"
        return text

    def update(self, capture: Capture, force: bool = False) -> None:
        now = time.monotonic()
        if not force and not self.tty and now - self._last < self.every:
            return
        self._last = now
        text = self.line(capture)
        if self.tty:
            width = max(20, shutil.get_terminal_size().columns - 1)
            text = text if len(text) <= width else text[: width - 1] + "…"
            self.out.write("\r" + text.ljust(self._width))
            self._width = len(text)
        else:
            self.out.write(text + "\n")
        self.out.flush()

    def done(self) -> None:
        if self.tty:
            self.out.write("\n")
            self.out.flush()


def run_until(
    capture: Capture,
    progress: Progress,
    ctrl_c: CtrlC,
    *,
    count: int | None = None,
    duration: float | None = None,
    done: Callable[[], bool] | None = None,
) -> str:
    """Show progress until one of these happens, and return which, in words for the user.

    ``count`` deliveries; ``duration`` seconds; ``done()`` true; Ctrl+C; or the capture
    stopping by itself (it failed — the listener's ``give_up_after`` ends that way — or
    finished). The caller stops the capture; :data:`INTERRUPTED` is the reason that needs
    a special exit code.
    """
    started = time.monotonic()
    deadline = started + duration if duration else None
    try:
        while True:
            progress.update(capture)
            now = time.monotonic()
            if ctrl_c.pressed:
                return INTERRUPTED
            if count is not None and len(capture) >= count:
                return f"stopped after {len(capture):,} deliveries (--count {count})"
            if deadline is not None and now >= deadline:
                return f"stopped after {duration:g} s (--duration)"
            if done is not None and done():
                return "the simulator played its whole scenario"
            if not capture.running and capture.state != "idle":
                return f"capture {capture.state}: {mask_text(capture.detail)}"
            capture.wait_for(len(capture) + 1, timeout=0.25)
    finally:
        progress.update(capture, force=True)
        progress.done()


def check_output_file(
    path: Path, *, force: bool, what: str = "output file", force_does: str = "overwrite it"
) -> list[str]:
    """Refuse ``path`` as a file to write, in words, before any work; returns notes to print (folders to create).

    Raises :class:`~slacklab.errors.SlacklabError`: it is a folder; it exists and
    ``force`` is off; something on the way is a file; the folder cannot be written.
    """
    if path.is_dir():
        raise SlacklabError(f"{path} is a folder; give a file name for the {what} (for example {path / 'capture.csv'})")
    if path.exists() and not force:
        raise SlacklabError(f"{path} already exists; use --force to {force_does} or choose another {what}")
    return check_output_folder(path.parent, what=f"folder of the {what}")


def check_output_folder(folder: Path, *, what: str = "output folder") -> list[str]:
    """Refuse ``folder`` unless it is (or can be created as) a writable folder; returns notes to print."""
    folder = Path(folder)
    missing: list[Path] = []
    probe = folder
    while not probe.exists():
        if probe.is_symlink():
            raise SlacklabError(f"{probe} is a broken link; the {what} cannot be created there")
        missing.append(probe)
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise SlacklabError(f"{probe} is a file, not a folder; choose another {what} (or move that file)")
    if probe.exists() and not os.access(probe, os.W_OK | os.X_OK):
        raise SlacklabError(f"cannot write in {probe} (permission denied); choose another {what}")
    return [f"creating folder {missing[-1] if len(missing) == 1 else folder}"] if missing else []


def describe_error(exc: BaseException) -> str:
    """The one line a user sees for ``exc`` (masked: no secret in an error message reaches the terminal)."""
    if isinstance(exc, SlacklabError):
        text = str(exc)
    elif isinstance(exc, FileNotFoundError):
        text = f"no such file: {exc.filename}" if exc.filename else str(exc)
    elif isinstance(exc, PermissionError):
        text = f"permission denied: {exc.filename}" if exc.filename else str(exc)
    elif isinstance(exc, IsADirectoryError):
        text = f"{exc.filename} is a folder, not a file" if exc.filename else str(exc)
    elif isinstance(exc, OSError):
        where = f" ({exc.filename})" if exc.filename else ""
        text = f"{exc.strerror or exc}{where}"
    elif isinstance(exc, ValueError):
        text = str(exc)
    else:
        text = f"unexpected {type(exc).__name__}: {exc} (run again with --debug to see where)"
    return mask_text(" ".join(text.split()))


# ------------------------------------------------------------------ shared steps of the subcommands


def new_folder(parent: Path, name: str) -> Path:
    """Create and return a folder that did not exist: ``name``, else ``name-2``, ``name-3``…"""
    parent.mkdir(parents=True, exist_ok=True)
    n = 1
    while True:
        folder = parent / (name if n == 1 else f"{name}-{n}")
        try:
            folder.mkdir()
        except FileExistsError:
            n += 1
            continue
        return folder


def summary_table(capture: Capture, out: TextIO) -> None:
    counts = capture.counts()
    if counts.empty:
        out.write("  no deliveries captured\n")
        return
    out.write("\n" + counts.to_string() + "\n")
    conns = capture.connections()
    if not conns.empty:
        out.write(
            "\n" + conns[["connection", "num_connections", "deliveries", "close_reason"]].to_string(index=False) + "\n"
        )
    for note in capture.notes:
        out.write(f"  note: {note}\n")


def signature_line(frames: Sequence[object], secret: str | None, include_rejected: bool) -> str:
    """Whether the HTTP side's signatures were checked, and what they said."""
    import pandas as pd

    verdicts = pd.concat(
        [f["signature"][f["source"] == "http"] for f in frames if isinstance(f, pd.DataFrame) and "signature" in f],
        ignore_index=True,
    )
    if verdicts.empty:
        return "signatures: nothing to check (no HTTP side)"
    counts = ", ".join(f"{n:,} {verdict}" for verdict, n in verdicts.fillna("none").value_counts().items())
    if not secret:
        return (
            f"signatures NOT checked: SLACK_SIGNING_SECRET is not set, so a forged request counts as Slack's ({counts})"
        )
    rejected = verdicts.isin(["invalid", "stale", "missing"]).sum()
    left_out = f"; the {rejected:,} rejected are left out (--include-rejected keeps them)" if rejected else ""
    return f"signatures checked with SLACK_SIGNING_SECRET: {counts}" + ("" if include_rejected else left_out)


# ------------------------------------------------------------------ argument types


class Parser(argparse.ArgumentParser):
    """argparse, with a mistake reported as one line (the usage is one ``--help`` away)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_ERROR, f"{self.prog}: {mask_text(message)} (see: {self.prog} --help)\n")


def number(kind: type, *, low: float, inclusive: bool = False, what: str = "") -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what or 'a number'}") from None
        if value < low or (value == low and not inclusive):
            if kind is int:
                bound = f"at least {low:g}" if inclusive else f"at least {low + 1:g}"
            else:
                bound = f"at least {low:g}" if inclusive else f"more than {low:g}"
            raise argparse.ArgumentTypeError(f"{text} is too small: give {bound}")
        return value  # type: ignore[no-any-return]

    return parse


def port(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (0-65535; 0 picks a free one)")
    return int(text)


def two_labels(text: str) -> list[str]:
    labels = [x.strip() for x in text.split(",")]
    if len(labels) != 2 or not all(labels) or labels[0] == labels[1]:
        raise argparse.ArgumentTypeError(f"{text!r}: give two different names separated by a comma, e.g. socket,http")
    return labels
