"""One workspace, both transports, one clock: :class:`DualSimulator`.

Two installs of the same app — one in Socket Mode, one with a Request URL —
receive the same events from the same workspace. :class:`DualSimulator` plays
that: one :class:`~slacklab.sim.scenario.Scenario` to a Socket Mode client (through
a :class:`~slacklab.sim.server.Simulator`) and to an HTTP Request URL (through an
:class:`~slacklab.sim.http_sender.HttpDelivery`) at the same time. Both hold their
scenario clocks until :meth:`DualSimulator.go`, which starts them at the same
instant, so each event *happens* once — its ``event_time`` is the same on both
sides — and ``received_at − event_time`` is each transport's real latency::

    dual = DualSimulator(scenario, receiver_url, speed=10)
    # connect a Socket Mode client: token dual.app_token, Web API dual.api_url
    dual.go(timeout=10)          # waits for a hello and the url_verification answer
    dual.wait_done(timeout=60)
    dual.truth.socket, dual.truth.http

:func:`slacklab.comparison.both.listen_both` does all of this with slacklab's own listener and
receiver and adds the app-side knobs (slow, down). Knobs here: Slack's side of
Socket Mode through :attr:`DualSimulator.socket` (``disconnect``,
``drop_connection``, ``slow_app``, ``other_consumer``…), and of HTTP through the
arguments (``drop``, ``forge``, ``disable``, ``retry_delays``, ``http_timeout``).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from slacklab.sim.http_rules import FAKE_SIGNING_SECRET, RETRY_DELAYS, DisableRule, HttpTruth, delivery_ids
from slacklab.sim.http_sender import HttpDelivery
from slacklab.sim.ledger import Truth
from slacklab.sim.scenario import Scenario, ScenarioItem, build_scenario
from slacklab.sim.server import Simulator

__all__ = ["DualSimulator", "DualTruth"]

log = logging.getLogger("slacklab.sim.dual")


@dataclass(frozen=True, slots=True)
class DualTruth:
    """Ground truth of a two-transport run: ``socket`` (:class:`~slacklab.sim.ledger.Truth`),
    ``http`` (:class:`~slacklab.sim.http_rules.HttpTruth`) and ``happened`` (event key →
    epoch seconds it happened, the same instant on both sides)."""

    socket: Truth
    http: HttpTruth
    happened: Mapping[str, float]

    def summary(self) -> dict[str, dict[str, Any]]:
        """Both sides' summaries, keyed ``socket`` and ``http``."""
        return {"socket": dict(self.socket.summary()), "http": self.http.summary()}


class DualSimulator:
    """Play one scenario over Socket Mode and HTTP at once, on one clock (see the module docstring).

    Args:
        scenario: what to play (default ``build_scenario(seed=seed)``).
        url: the HTTP Request URL (a :func:`slacklab.receive_http` endpoint, or any app).
        speed: simulated seconds per wall second, for both transports.
        seed: seeds the scenario (when none is given) and the Socket Mode side.
        signing_secret: signs the HTTP requests.
        ack_timeout: Socket Mode redelivery after this many wall seconds (Slack: ~3).
        http_timeout: HTTP attempts fail after this many wall seconds (Slack: 3).
        retry_delays: HTTP retry delays in simulated seconds (Slack: 1, 60, 300).
        drop, forge, disable: HTTP knobs, see :class:`~slacklab.sim.http_sender.HttpDelivery`.
        simulator_options: more :class:`~slacklab.sim.server.Simulator` arguments.
    """

    def __init__(
        self,
        scenario: Scenario | Iterable[ScenarioItem] | None,
        url: str,
        *,
        speed: float | None = 10.0,
        seed: int = 0,
        signing_secret: str = FAKE_SIGNING_SECRET,
        ack_timeout: float = 3.0,
        http_timeout: float = 3.0,
        retry_delays: Iterable[float] = RETRY_DELAYS,
        drop: Collection[int] = (),
        forge: Mapping[int, str] | None = None,
        disable: DisableRule | None = DisableRule(),  # noqa: B008 - frozen
        simulator_options: Mapping[str, Any] | None = None,
    ) -> None:
        if scenario is None:
            scenario = build_scenario(seed=seed)
        elif not isinstance(scenario, Scenario):
            scenario = Scenario.from_items(scenario)
        self.scenario = scenario
        self.speed = math.inf if speed is None else float(speed)
        self.socket = Simulator(
            scenario,
            speed=speed,
            seed=seed,
            ack_timeout=ack_timeout,
            hold_clock=True,
            **dict(simulator_options or {}),
        )
        try:
            self.http = HttpDelivery(
                scenario,
                url,
                signing_secret=signing_secret,
                speed=speed,
                timeout=http_timeout,
                retry_delays=retry_delays,
                drop=drop,
                forge=forge,
                disable=disable,
                hold_clock=True,
                workers=16,  # Slack sends many requests at once: a slow answer must not delay the rest
                start=True,
            )
        except BaseException:
            self.socket.close()
            raise
        self.started_at: float | None = None
        """Epoch seconds the shared clock started (:meth:`go`)."""

    @property
    def app_token(self) -> str:
        """The simulated app-level token for the Socket Mode client."""
        return self.socket.app_token

    @property
    def api_url(self) -> str:
        """The Web API base URL for the Socket Mode client."""
        return self.socket.api_url

    def keys(self, *, every: int = 1, kind: str = "events_api") -> list[str]:
        """Event keys of every ``every``-th item of ``kind`` in the scenario (to aim a knob at the same events)."""
        items = [i for i in self.scenario if i.kind == kind]
        return [str(delivery_ids(i.kind, i.payload)["event_key"]) for i in items[every - 1 :: every]]

    def ready(self, *, timeout: float = 10.0, wait_for: Collection[str] = ("socket", "http")) -> bool:
        """Wait until the Socket Mode client said hello and the Request URL answered its challenge
        (``wait_for`` drops either wait); ``False`` if a wait timed out or the URL did not verify."""
        deadline = time.monotonic() + timeout
        ready = True
        if "socket" in wait_for:
            ready = self.socket.wait_connections(1, timeout=timeout) and ready
        if "http" in wait_for:
            while self.http.url_verified is None and time.monotonic() < deadline and not self.http.done:
                time.sleep(0.01)
            ready = bool(self.http.url_verified) and ready
        return ready

    def start_clocks(self) -> None:
        """Start both scenario clocks at this instant (idempotent): events begin to happen."""
        mono, epoch = time.monotonic(), time.time()
        self.socket.start_clock(mono, epoch)
        self.http.start_clock(mono, epoch)
        if self.started_at is None:
            self.started_at = epoch

    def go(self, *, timeout: float = 10.0, wait_for: Collection[str] = ("socket", "http")) -> bool:
        """:meth:`ready`, then :meth:`start_clocks` — even if a side is not ready, so the side that is
        still plays (and the other shows what it missed). Returns what :meth:`ready` said."""
        ready = self.ready(timeout=timeout, wait_for=wait_for)
        if not ready:
            log.warning("started the clock with a transport not ready (no Socket Mode client, or URL not verified)")
        self.start_clocks()
        return ready

    def wait_done(self, timeout: float | None = None) -> bool:
        """Block until both sides settled every item (delivered, given up…); ``False`` on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        socket_done = self.socket.wait_done(timeout)
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        return self.http.wait_done(left) and socket_done

    @property
    def truth(self) -> DualTruth:
        """Both sides' ground truth, and when each event happened."""
        http = self.http.truth
        happened = {r["event_key"]: r["happened_at"] for r in http.event_rows if r["happened_at"] is not None}
        return DualTruth(self.socket.truth, http, happened)

    def close(self) -> None:
        """Stop both sides (idempotent)."""
        self.http.close()
        self.socket.close()

    def __enter__(self) -> DualSimulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        speed = "max" if math.isinf(self.speed) else f"{self.speed:g}"
        clock = "waiting for go()" if self.started_at is None else "running"
        return f"<DualSimulator {len(self.scenario)} items, speed={speed}, {clock}\n  {self.socket!r}\n  {self.http!r}>"
