"""The public API: a small façade whose names stay what they say, and old names that still work for a release."""

from __future__ import annotations

import importlib
import pkgutil
import types
import warnings

import pytest

import slacklab


def test_the_facade_is_small() -> None:
    assert "__version__" in slacklab.__all__
    assert 12 <= len(slacklab.__all__) <= 18, slacklab.__all__


def test_public_names_are_never_shadowed_by_submodules() -> None:
    """Importing a submodule sets an attribute on its package: a module named like a public function
    (slacklab.compare the function vs a slacklab/compare.py) would replace the function."""
    for info in pkgutil.walk_packages(slacklab.__path__, "slacklab."):
        if info.name.endswith("__main__"):
            continue
        importlib.import_module(info.name)
    for name in slacklab.__all__:
        value = getattr(slacklab, name)
        assert not isinstance(value, types.ModuleType), f"slacklab.{name} is a module"
    assert callable(slacklab.compare) and callable(slacklab.replay) and callable(slacklab.load)


@pytest.mark.parametrize("old", ["read_http_log", "load_log", "Filters", "plot_comparison", "HttpReceiver"])
def test_old_names_work_with_a_deprecation_warning(old: str) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = getattr(slacklab, old)
    assert callable(value)
    assert any(issubclass(w.category, DeprecationWarning) and "moved" in str(w.message) for w in caught)


def test_unknown_names_say_so() -> None:
    with pytest.raises(AttributeError, match="nope"):
        slacklab.nope
