"""Fixtures shared by the notebook tests (nbclient) and the real-browser test (JupyterLab)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest


def python3_kernelspec(root: Path) -> Path:
    """Write, under ``root``, a ``python3`` kernelspec that runs *this* interpreter; return ``root``
    (for ``JUPYTER_PATH``). Also used by ``tests/browser_tour.py``, which runs outside pytest."""
    spec = root / "kernels" / "python3"
    spec.mkdir(parents=True, exist_ok=True)
    (spec / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "Python 3 (ipykernel)",
                "language": "python",
            }
        ),
        encoding="utf-8",
    )
    return root


@pytest.fixture(scope="session")
def kernelspec_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder for ``JUPYTER_PATH`` holding a ``python3`` kernelspec that runs *this* interpreter.

    Jupyter looks in ``JUPYTER_PATH`` before the user's and the environment's
    kernels, so notebooks run with the Python that has this checkout's
    slacklab installed, whatever ``python3`` kernel a machine already has.
    """
    return python3_kernelspec(tmp_path_factory.mktemp("jupyter-path"))
