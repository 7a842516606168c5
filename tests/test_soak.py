"""Soak: an hour of simulated Slack in about twenty seconds, with routine refreshes and random drops.

What must hold over a long capture: nothing lost, nothing duplicated in the
events view, and no resource that grows with time or with reconnects: open
file descriptors, threads and live WebSocket connection objects stay flat
after warm-up. Memory grows only with what is stored (the captured rows, and
the simulator's ground truth), at a steady rate per delivery.
"""

from __future__ import annotations

import gc
import os
import random
import threading
import time
import tracemalloc
from pathlib import Path

import pytest
from websockets.asyncio.client import ClientConnection

import slacklab
from slacklab.listener import Listener
from slacklab.sim.scenario import build_scenario
from slacklab.sim.server import Simulator

from .helpers import wait_until
from .test_listener import FAST, assert_exact, no_thread_left_behind  # noqa: F401

pytestmark = pytest.mark.timeout(120)

HOUR = 3600.0
SPEED = 180.0  # an hour in 20 wall seconds
EVENTS = 3000


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def live_client_connections() -> int:
    """WebSocket client connections still in memory (the listener's; the simulator's are server side)."""
    gc.collect()
    return sum(1 for o in gc.get_objects() if isinstance(o, ClientConnection))


def test_an_hour_of_refreshes_and_drops_loses_nothing_and_leaks_nothing(tmp_path: Path) -> None:
    scenario = build_scenario(seed=91, events=EVENTS, duration=HOUR)
    fds_before, threads_before = open_fds(), threading.active_count()
    tracemalloc.start()
    try:
        sim = Simulator(scenario, speed=SPEED, seed=91, ack_timeout=1.0, refresh_interval=360.0)
        listener = Listener(sim.app_token, api_url=sim.api_url, journal=tmp_path / "soak.jsonl", **FAST)
        rng = random.Random(91)
        samples: list[tuple[int, int, int, int]] = []  # deliveries, traced bytes, fds, threads
        drops = 0
        try:
            capture = listener.start()
            next_drop = time.monotonic() + rng.uniform(2.5, 5.0)
            give_up = time.monotonic() + 90
            while not sim.wait_done(timeout=0.25):
                assert time.monotonic() < give_up, f"soak did not finish: {sim!r}"
                if time.monotonic() >= next_drop:  # a flaky network
                    drops += len(sim.drop_connection())
                    next_drop = time.monotonic() + rng.uniform(2.5, 5.0)
                capture.df  # a notebook cell refreshing its view meanwhile
                samples.append((len(capture), tracemalloc.get_traced_memory()[0], open_fds(), threading.active_count()))
            capture.wait_for(EVENTS, events=True, timeout=10)
            live_connections = live_client_connections()
        finally:
            listener.stop()
            sim.close()
    finally:
        tracemalloc.stop()

    # nothing lost, nothing duplicated
    assert_exact(capture, sim)
    assert len(capture.events()) == EVENTS
    assert sim.truth.summary()["lost_events"] == 0
    reloaded = slacklab.load(tmp_path / "soak.jsonl")
    assert set(reloaded.events()["event_key"]) == set(sim.truth.events)
    assert reloaded.events()["event_key"].is_unique

    # the hour really had its refreshes and drops
    conns = capture.connections()
    reasons = conns["close_reason"].fillna("")
    assert reasons.str.contains("refresh_requested|warning").sum() >= 5
    assert drops >= 3 and len(conns) >= 10

    # flat after warm-up (the first fifth of the deliveries)
    warm = [s for s in samples if s[0] >= EVENTS // 5]
    assert len(warm) >= 20
    third = len(warm) // 3
    fds, threads = [s[2] for s in warm], [s[3] for s in warm]
    assert max(fds) - min(fds) <= 6  # a connection overlapping its replacement, an API call
    assert max(fds[-third:]) <= max(fds[:third]) + 2
    assert max(threads) <= threads[0] + 1
    assert live_connections <= 2  # closed connections are released, not kept
    # memory grows with the stored rows only: the same cost per delivery late as early
    early = (warm[third][1] - warm[0][1]) / max(1, warm[third][0] - warm[0][0])
    late = (warm[-1][1] - warm[-third][1]) / max(1, warm[-1][0] - warm[-third][0])
    assert late <= 2 * early + 1024, (early, late)
    assert (warm[-1][1] - warm[0][1]) / (warm[-1][0] - warm[0][0]) < 16 * 1024  # bytes per delivery

    # everything given back at the end
    assert wait_until(lambda: threading.active_count() <= threads_before, 5)
    assert wait_until(lambda: open_fds() <= fds_before, 5)


def test_closed_connections_are_released() -> None:
    """Regression: the listener kept every closed WebSocket (and its buffers) until it stopped."""
    with Simulator([], speed=None) as sim, Listener(sim.app_token, api_url=sim.api_url, **FAST) as capture:
        assert sim.wait_connections(1, timeout=10)
        for n in range(2, 22):
            sim.disconnect("refresh_requested")
            assert wait_until(
                lambda n=n: (
                    len(capture.connections()) >= n and capture.connections()["closed_at"].notna().sum() >= n - 1
                ),
                10,
            )
            assert sim.wait_connections(1, timeout=10)
        assert live_client_connections() <= 2
