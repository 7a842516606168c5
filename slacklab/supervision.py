"""What the connection supervisor and the listener say to each other: events in, commands out. Pure.

The :class:`~slacklab.supervisor.Supervisor` is fed the :data:`Event` values
below (each with a monotonic ``now``) and returns :data:`Command` values; the
:class:`~slacklab.listener.Listener` carries the commands out and reports what
happened as events. Everything is an immutable dataclass or an enum, so a test
can write a whole exchange as data.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum

__all__ = [
    "ApiAnswered",
    "ApiFailed",
    "ApiUnreachable",
    "CancelOpen",
    "Close",
    "Closed",
    "Command",
    "Connect",
    "ConnectFailed",
    "Connected",
    "DisconnectReceived",
    "Event",
    "Fatal",
    "Finish",
    "HelloReceived",
    "Note",
    "OpenConnection",
    "Phase",
    "PingTimeout",
    "SetStatus",
    "Start",
    "Status",
    "StopRequested",
    "TimerFired",
]


class Status(Enum):
    """The capture's state while the supervisor runs (the values are :attr:`Capture.state` strings)."""

    CONNECTING = "connecting"
    LISTENING = "listening"
    RECONNECTING = "reconnecting"
    STOPPED = "stopped"
    FAILED = "failed"


class Phase(Enum):
    """One connection's lifecycle, as the supervisor tracks it."""

    OPENING = "opening"
    """``apps.connections.open`` or the WebSocket handshake is under way."""
    AWAITING_HELLO = "awaiting_hello"
    LIVE = "live"
    RETIRING = "retiring"
    """Slack asked for a refresh: still read and acked until Slack closes it or it drains."""
    CLOSING = "closing"
    """We asked it to close; :class:`Closed` follows."""


# ------------------------------------------------------------------ events


@dataclass(frozen=True, slots=True)
class Start:
    """Begin: open the first connection."""


@dataclass(frozen=True, slots=True)
class ApiAnswered:
    """``apps.connections.open`` returned a WebSocket URL for ``conn``."""

    conn: str
    url: str


@dataclass(frozen=True, slots=True)
class ApiFailed:
    """``apps.connections.open`` answered ``ok: false`` with Slack's ``error`` code."""

    conn: str
    error: str
    retry_after: float | None = None


@dataclass(frozen=True, slots=True)
class ApiUnreachable:
    """``apps.connections.open`` got no answer; ``problem`` in plain words."""

    conn: str
    problem: str


@dataclass(frozen=True, slots=True)
class Connected:
    """The WebSocket handshake of ``conn`` succeeded; its frames are being read."""

    conn: str


@dataclass(frozen=True, slots=True)
class ConnectFailed:
    """The WebSocket handshake of ``conn`` failed; ``problem`` in plain words."""

    conn: str
    problem: str


@dataclass(frozen=True, slots=True)
class HelloReceived:
    """Slack greeted ``conn``: it is live."""

    conn: str
    num_connections: int | None = None


@dataclass(frozen=True, slots=True)
class DisconnectReceived:
    """Slack sent a ``disconnect`` frame with ``reason`` on ``conn``."""

    conn: str
    reason: str


@dataclass(frozen=True, slots=True)
class Closed:
    """The socket of ``conn`` is gone (``code``/``reason`` from the close frame, ``why`` in plain words)."""

    conn: str
    code: int | None = None
    reason: str = ""
    why: str = ""


@dataclass(frozen=True, slots=True)
class PingTimeout:
    """No pong came back on ``conn`` in time: treat it as lost now."""

    conn: str


@dataclass(frozen=True, slots=True)
class TimerFired:
    """:attr:`Supervisor.wake_at` passed. ``last_frame`` maps connections to the ``now`` of their last frame."""

    last_frame: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StopRequested:
    """Stop: close everything, then :class:`Finish`."""

    explanation: str = "stopped by the user"


@dataclass(frozen=True, slots=True)
class Fatal:
    """Something that no reconnect fixes (a journal that cannot be written): stop as ``failed``."""

    explanation: str


Event = (
    Start
    | ApiAnswered
    | ApiFailed
    | ApiUnreachable
    | Connected
    | ConnectFailed
    | HelloReceived
    | DisconnectReceived
    | Closed
    | PingTimeout
    | TimerFired
    | StopRequested
    | Fatal
)


# ---------------------------------------------------------------- commands


@dataclass(frozen=True, slots=True)
class OpenConnection:
    """Call ``apps.connections.open`` for the new connection ``conn``; report :class:`ApiAnswered`/... ."""

    conn: str


@dataclass(frozen=True, slots=True)
class Connect:
    """Open the WebSocket of ``conn`` at ``url``; report :class:`Connected` or :class:`ConnectFailed`."""

    conn: str
    url: str


@dataclass(frozen=True, slots=True)
class CancelOpen:
    """Abandon the open attempt of ``conn`` (API call or handshake); nothing is reported back."""

    conn: str


@dataclass(frozen=True, slots=True)
class Close:
    """Close ``conn`` (``why`` in plain words); report :class:`Closed` once it is gone."""

    conn: str
    why: str


@dataclass(frozen=True, slots=True)
class SetStatus:
    """Show this state and detail on the capture."""

    status: Status
    detail: str


@dataclass(frozen=True, slots=True)
class Note:
    """Tell the user (capture notes)."""

    text: str


@dataclass(frozen=True, slots=True)
class Finish:
    """Nothing is open any more: end with this state and explanation."""

    status: Status
    explanation: str


Command = OpenConnection | Connect | CancelOpen | Close | SetStatus | Note | Finish
