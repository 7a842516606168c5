"""HTTP vs Socket Mode: line two captures up, explain what differs, play both, send captures again.

* :mod:`~slacklab.comparison.lineup` – :func:`slacklab.compare` and :class:`Comparison`: event by
  event, which key matched, what only one side saw;
* :mod:`~slacklab.comparison.tables` – the tables behind it (inputs, matching, field differences);
* :mod:`~slacklab.comparison.explain` – the tables that say *why* (timeline, de-duplication,
  signatures, time without a connection, order);
* :mod:`~slacklab.comparison.report` – numbers for people, one colour per side, charts, HTML;
* :mod:`~slacklab.comparison.both` – :func:`listen_both`: one simulated workspace over both
  transports at once, on one clock;
* :mod:`~slacklab.comparison.replay` – :func:`slacklab.replay`: captured deliveries sent again,
  re-signed with a fresh timestamp.

The comparison itself is data (pandas, no I/O); ``both`` and ``replay`` are the I/O around it.
"""

from __future__ import annotations

from slacklab.comparison.lineup import Comparison

__all__ = ["Comparison"]
