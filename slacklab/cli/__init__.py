"""The ``slacklab`` command (also ``python -m slacklab``): :func:`main`.

* :mod:`~slacklab.cli.commands` – one function per subcommand (demo, capture, simulate, export,
  compare, receive, replay) and :func:`main`;
* :mod:`~slacklab.cli.args` – their arguments, one ``add_<name>`` function per subcommand;
* :mod:`~slacklab.cli.console` – terminal plumbing: the progress line, Ctrl+C, output paths.
"""

from __future__ import annotations

from slacklab.cli.commands import main

__all__ = ["main"]
