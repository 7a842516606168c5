"""The listener shortens Python's thread switch interval while it runs, and restores it."""

from __future__ import annotations

import sys

from slacklab.listener import LISTENING_SWITCH_INTERVAL, Listener
from slacklab.sim.scenario import build_scenario
from slacklab.sim.server import Simulator


def test_switch_interval_is_short_while_listening_and_restored_after() -> None:
    before = sys.getswitchinterval()
    with Simulator(build_scenario(events=5), speed=None) as sim:
        first = Listener(sim.app_token, api_url=sim.api_url)
        second = Listener("xapp-1-OTHER-0000-TOKEN", api_url=sim.api_url)  # refused by the simulator
        first.start()
        second.start()
        assert sys.getswitchinterval() == LISTENING_SWITCH_INTERVAL
        assert first.capture.wait_for(5, timeout=20) == 5
        second.stop()
        assert sys.getswitchinterval() == LISTENING_SWITCH_INTERVAL  # the first one still runs
        first.stop()
    assert sys.getswitchinterval() == before
