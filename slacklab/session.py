"""``slacklab.listen()``: one call that starts capturing, from real Slack or the simulator.

* With an app token (``app_token=`` or ``SLACK_APP_TOKEN``), it listens to real
  Slack (or to ``api_url`` / ``SLACK_API_URL`` when set).
* Without one, it starts the built-in simulator on 127.0.0.1 and listens to
  that, so a newcomer sees events flow offline with no Slack account. The
  capture's notes say so, and ``capture.simulator`` gives access to it
  (fault knobs, ground truth).

Either way it returns a :class:`~slacklab.capture.Capture` at once; the
listener runs in the background. ``capture.stop()`` stops everything that
``listen()`` started.

This module sits above both the listener and the simulator (they never
import each other).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from slacklab.capture import Capture
from slacklab.errors import StartError
from slacklab.listener import Listener, check_app_token
from slacklab.sim.scenario import Scenario, build_scenario
from slacklab.sim.server import Simulator

__all__ = ["SIMULATOR_NOTE", "listen"]

SIMULATOR_NOTE = (
    "No SLACK_APP_TOKEN set: listening to slacklab's built-in simulator (offline, fake workspace). "
    "Set SLACK_APP_TOKEN to an xapp- app-level token to listen to real Slack with the same code."
)


def _env(name: str) -> str | None:
    value = os.environ.get(name, "").strip()
    return value or None


def listen(
    app_token: str | None = None,
    *,
    api_url: str | None = None,
    journal: str | Path | None = None,
    simulate: bool | None = None,
    scenario: Scenario | None = None,
    events: int = 300,
    duration: float = 600.0,
    speed: float | None = 10.0,
    seed: int = 0,
    simulator_options: dict[str, Any] | None = None,
    give_up_after: float | None = None,
    archive: str | Path | None = None,
    keep_rows: int | None = None,
    **listener_options: Any,
) -> Capture:
    """Start capturing Socket Mode deliveries in the background and return the capture.

    Args:
        app_token: an ``xapp-`` app-level token; defaults to ``SLACK_APP_TOKEN``.
        api_url: Web API base URL; defaults to ``SLACK_API_URL`` or real Slack.
        journal: append every raw frame to this JSON Lines file (mode 0600) before
            acking it; reload later with :func:`slacklab.load`.
        simulate: ``None`` (default) simulates only when no token is set;
            ``True`` always uses the simulator; ``False`` never does.
        scenario: what the simulator plays (default: ``build_scenario(seed, events, duration)``).
        events, duration, seed: size, simulated length (seconds) and seed of the default scenario.
        speed: simulated seconds per real second (``None``: as fast as possible).
        simulator_options: extra keyword arguments for :class:`~slacklab.sim.server.Simulator`
            (``ack_timeout``, ``refresh_interval``…).
        give_up_after: stop as ``failed`` after this many seconds without a working
            connection, with the last error in ``capture.detail`` (``None``: keep trying).
        archive: a folder: rows also go to Parquet segments there, so the whole capture
            stays on disk (``capture.sql()`` and ``duckdb.read_parquet('dir/*.parquet')`` read it).
        keep_rows: hold only the newest ``keep_rows`` rows in memory (needs ``archive``).
        **listener_options: passed to :class:`~slacklab.listener.Listener`
            (``ping_interval``, ``debug_reconnects``…).

    Returns:
        The :class:`Capture`: ``capture.df``, ``capture.events()``,
        ``capture.wait_for(n)``, ``capture.to_csv(path)``, ``capture.stop()``.

    Raises:
        TokenError: a token was given (or found in the environment) but is not
            an ``xapp-`` app-level token, or ``simulate=False`` without a token.
        JournalError: the journal cannot be opened for appending.
        StartError: the simulator could not start.

        Whatever failed, nothing that ``listen()`` started is left running.
    """
    if archive is not None or keep_rows is not None:
        listener_options.setdefault("capture", Capture(archive=archive, keep_rows=keep_rows))
    token = app_token or _env("SLACK_APP_TOKEN")
    if simulate is None:
        simulate = token is None
    if not simulate:
        listener = Listener(
            check_app_token(token),
            api_url=api_url or _env("SLACK_API_URL"),
            journal=journal,
            give_up_after=give_up_after,
            **listener_options,
        )
        return listener.start()

    try:
        sim = Simulator(
            scenario if scenario is not None else build_scenario(seed=seed, events=events, duration=duration),
            speed=speed,
            seed=seed,
            **(simulator_options or {}),
        )
    except (OSError, RuntimeError) as exc:
        raise StartError(f"the simulator could not start on 127.0.0.1: {exc}") from None
    try:
        listener = Listener(
            sim.app_token, api_url=sim.api_url, journal=journal, give_up_after=give_up_after, **listener_options
        )
        capture = listener.capture
        capture.label = "simulated"
        capture.simulator = sim

        def stop_both() -> None:
            listener.stop()
            sim.close()

        capture._attach_stopper(stop_both)
        capture.note(SIMULATOR_NOTE)
        return listener.start()
    except BaseException:
        sim.close()
        raise
