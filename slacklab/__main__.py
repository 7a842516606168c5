"""``python -m slacklab`` runs the ``slacklab`` command."""

from __future__ import annotations

import sys

from slacklab.cli import main

sys.exit(main())
