"""The pytest plugin slacklab registers (entry point ``pytest11``): the ``slack_simulator`` fixture.

Kept apart from :mod:`slacklab.testing` so that loading the plugin, which pytest does in every run of
every project where slacklab is installed, imports nothing heavy: the simulator is imported only when a
test asks for the fixture.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from slacklab.sim.server import Simulator

__all__ = ["slack_simulator"]


@pytest.fixture
def slack_simulator() -> Iterator[Simulator]:
    """A running simulator with an empty scenario: feed it with ``send_and_wait_for_reply`` or ``sim.add``.

    Point the app at ``sim.api_url`` with ``sim.bot_token`` (Web API) and ``sim.app_token`` (Socket Mode).
    """
    from slacklab.testing import running_simulator

    with running_simulator() as sim:
        yield sim
