"""The façade: every public name resolves, and `import slacklab` stays light."""

from __future__ import annotations

import subprocess
import sys

import slacklab


def test_every_public_name_resolves() -> None:
    for name in slacklab.__all__:
        assert getattr(slacklab, name) is not None, name
    assert set(slacklab.__all__) <= set(dir(slacklab))


def test_unknown_name_is_a_clear_attribute_error() -> None:
    try:
        slacklab.nope
    except AttributeError as exc:
        assert "nope" in str(exc)
    else:  # pragma: no cover
        raise AssertionError("expected AttributeError")


def test_import_is_lazy() -> None:
    code = "import sys, slacklab; print(sorted(m for m in ('pandas', 'websockets', 'ipywidgets', 'matplotlib') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"
