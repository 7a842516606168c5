"""The explore panel's free-text search (:func:`slacklab.notebook.filters.contains`): its case rule, table-driven and by hypothesis."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from slacklab.notebook.filters import Filters, contains


@pytest.mark.parametrize(
    ("text", "needle", "found"),
    [
        ("Deploy finished", "deploy", True),
        ("DEPLOY", "dEpLoY", True),
        ("café crème", "CAFÉ", True),  # é / É
        ("ΣΊΣΥΦΟΣ", "σίσυφος", True),  # final sigma folds like sigma
        ("ΣΊΣΥΦΟΣ", "σίσυφοσ", True),
        ("\u212a is kelvin", "k is", True),  # the Kelvin sign folds to k
        ("ſtop", "STOP", True),  # long s folds to s
        ("Straße", "strasse", False),  # ß -> ss is full folding: not this rule
        ("ﬁle", "file", False),  # ligatures too
        ("a.b(c)", "(c)", True),  # no regular expressions
        ("a.b(c)", "a.c", False),
        ('{"event_id":"Ev17"}', '"event_id":"ev17"', True),
        ("", "x", False),
    ],
)
def test_case_rule_is_unicode_simple_case_folding(text: str, needle: str, found: bool) -> None:
    for dtype in ("str", "object"):
        assert contains(pd.Series([text], dtype=dtype), needle).tolist() == [found], dtype


def test_only_the_asked_rows_are_looked_at_and_missing_or_non_text_values_never_match() -> None:
    values = pd.Series(["hello", None, "HELLO there", "nothing", "hello"], dtype="str")
    rows = np.array([True, True, True, True, False])
    assert contains(values, "hello", rows).tolist() == [True, False, True, False, False]
    mixed = pd.Series([{"text": "hello"}, "Hello", None, 3, float("nan")], dtype="object")
    assert contains(mixed, "hello").tolist() == [False, True, False, False, False]
    assert contains(pd.Series([], dtype="str"), "x").tolist() == []


def test_many_chunks_and_sparse_candidates_give_the_same_rows_as_one_chunk() -> None:
    import pyarrow as pa

    texts = [f"row {i} {'Match' if i % 7 == 0 else 'other'}" for i in range(5000)]
    chunks = pa.chunked_array([pa.array(texts[i : i + 333], type=pa.large_string()) for i in range(0, 5000, 333)])
    split = pd.Series(pd.arrays.ArrowStringArray(chunks))
    assert split.array.__arrow_array__().num_chunks == 16
    whole = pd.Series(texts, dtype="str")
    expected = np.array(["Match" in t for t in texts])
    rng = np.random.default_rng(3)
    for series in (whole, split):
        assert (contains(series, "match") == expected).all()
        for density in (0.01, 0.2, 0.9):
            rows = rng.random(5000) < density
            assert (contains(series, "MATCH", rows) == (expected & rows)).all()


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.one_of(st.none(), st.text(alphabet=st.characters(max_codepoint=127), max_size=30)), max_size=40),
    st.text(alphabet=st.characters(max_codepoint=127), min_size=1, max_size=4),
)
def test_ascii_text_matches_python_lower(values: list[str | None], needle: str) -> None:
    series = pd.Series(values, dtype="object")
    expected = [v is not None and needle.lower() in v.lower() for v in values]
    assert contains(series, needle).tolist() == expected
    assert contains(series.astype("str"), needle).tolist() == expected


def test_filters_search_text_then_payload() -> None:
    df = pd.DataFrame(
        {
            "text": pd.Series(["Deploy now", None, "lunch"], dtype="str"),
            "payload": pd.Series(['{"t":"x"}', '{"command":"/DEPLOY"}', '{"t":"y"}'], dtype="str"),
        }
    )
    assert Filters(text="deploy").mask(df).tolist() == [True, True, False]


@pytest.mark.parametrize(
    ("old", "new", "narrows"),
    [
        (Filters(text="dep"), Filters(text="DEPLOY"), True),
        (Filters(text="dep", hide_retries=True), Filters(text="deploy", hide_retries=True), True),
        (Filters(text="dep"), Filters(text="deploy", hide_retries=True), False),  # another filter changed too
        (Filters(text="deploy"), Filters(text="dep"), False),  # shorter: more rows
        (Filters(text="dep"), Filters(text="dep"), False),  # the same: the cached mask serves
        (Filters(), Filters(text="dep"), False),
        (Filters(text="σ"), Filters(text="ΣΊΣ"), True),  # by the search's own case rule
    ],
)
def test_narrows_when_only_the_text_grew(old: Filters, new: Filters, narrows: bool) -> None:
    assert old.narrows(new) is narrows


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.text(alphabet="abAB .", max_size=12), min_size=1, max_size=30),
    st.text(alphabet="abAB .", min_size=1, max_size=3),
    st.text(alphabet="abAB .", max_size=3),
    st.booleans(),
)
def test_searching_the_rows_of_a_shorter_text_gives_the_longer_texts_rows(
    texts: list[str], short: str, more: str, hide: bool
) -> None:
    df = pd.DataFrame(
        {
            "text": pd.Series(texts, dtype="str"),
            "payload": pd.Series([t[::-1] for t in texts], dtype="str"),
            "retry_attempt": pd.Series([i % 2 for i in range(len(texts))], dtype="Int64"),
        }
    )
    old, new = Filters(text=short, hide_retries=hide), Filters(text=short + more, hide_retries=hide)
    if old.narrows(new):
        assert new.search(df, old.mask(df)).tolist() == new.mask(df).tolist()


def test_the_panel_narrows_as_someone_types() -> None:
    pytest.importorskip("ipywidgets")
    from slacklab.notebook.panel import explore

    df = pd.DataFrame(
        {
            "event_type": pd.Series(["message"] * 6, dtype="str"),
            "event_key": pd.Series([f"Ev{i}" for i in range(6)], dtype="str"),
            "retry_attempt": pd.Series([0] * 6, dtype="Int64"),
            "text": pd.Series(["deploy a", "Deployed", "dep", "lunch", None, "DEPLOYMENT"], dtype="str"),
            "received_at": pd.to_datetime(np.arange(6), unit="s", utc=True),
        }
    )
    panel = explore(df)
    try:
        for typed in ("d", "de", "dep", "deplo", "deploy", "deployE", "dep"):
            panel.set_filters(text=typed)
            assert panel.full_df.index.tolist() == Filters(text=typed).apply(df).index.tolist(), typed
    finally:
        panel.close()
