"""The simulator: everything that plays Slack's side, on 127.0.0.1, offline.

Pure parts (no sockets, threads or clocks), tested directly:

* :mod:`~slacklab.sim.workspace` – the fake workspace (users, channels) and the scenario types;
* :mod:`~slacklab.sim.payloads` – :class:`ScenarioBuilder`, Slack's payload shapes (with
  :mod:`~slacklab.sim.payload_base`, :mod:`~slacklab.sim.payloads_app`, :mod:`~slacklab.sim.payloads_interactive`);
* :mod:`~slacklab.sim.webapi_methods` – the Web API methods a Bolt app calls, answered from the workspace;
* :mod:`~slacklab.sim.scenario` – :func:`build_scenario`, seeded workspace traffic;
* :mod:`~slacklab.sim.playback` – the scenario clock (which items are due);
* :mod:`~slacklab.sim.ledger` – the bookkeeping of what was sent and acked (the ground truth),
  its records in :mod:`~slacklab.sim.records`;
* :mod:`~slacklab.sim.http_rules` – Slack's HTTP rules: bodies, retries, disabling, the HTTP truth.

I/O shells:

* :mod:`~slacklab.sim.server` – :class:`Simulator`: Web API + Socket Mode server, fault knobs;
* :mod:`~slacklab.sim.webapi` – its Web API (``apps.connections.open`` and the methods above);
* :mod:`~slacklab.sim.socket_mode` – its WebSocket connections;
* :mod:`~slacklab.sim.http_sender` – :class:`HttpDelivery`: signed HTTP deliveries to a Request URL
  (each POST through :mod:`~slacklab.sim.http_post`);
* :mod:`~slacklab.sim.dual` – :class:`~slacklab.sim.dual.DualSimulator`: one scenario over both transports, one clock;
* :mod:`~slacklab.sim.knobs` – the scenario clock and the app's side (slow acks, another consumer);
* :mod:`~slacklab.sim.loopthread` – an asyncio loop in a daemon thread.

The simulator and the listener never import each other: they meet only over sockets.
"""

from __future__ import annotations

from slacklab.sim.http_sender import FAKE_SIGNING_SECRET, HttpDelivery
from slacklab.sim.scenario import Scenario, ScenarioBuilder, ScenarioItem, build_scenario
from slacklab.sim.server import Simulator

__all__ = [
    "FAKE_SIGNING_SECRET",
    "HttpDelivery",
    "Scenario",
    "ScenarioBuilder",
    "ScenarioItem",
    "Simulator",
    "build_scenario",
]
