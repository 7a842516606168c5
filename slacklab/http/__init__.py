"""The HTTP side: Events API deliveries over Request URLs.

* :mod:`~slacklab.http.signing` – Slack's request signatures (``slack_sdk``'s verifier),
  judged at capture time: ``valid``, ``invalid``, ``stale``, ``missing``, ``unchecked``;
* :mod:`~slacklab.http.request` – one captured request → one delivery row;
* :mod:`~slacklab.http.har`, :mod:`~slacklab.http.ngrok` – capture file formats;
* :mod:`~slacklab.http.logs` – :func:`read_http_log` (any of them) and the receiver's log writer;
* :mod:`~slacklab.http.receiver` – :class:`HttpReceiver`, a local Request URL endpoint.

``slacklab.load`` reads these logs (and journals) for you; this package is the piece underneath.
"""

from __future__ import annotations

from slacklab.http.logs import read_http_log
from slacklab.http.receiver import HttpReceiver, Reply, receive_http

__all__ = ["HttpReceiver", "Reply", "read_http_log", "receive_http"]
