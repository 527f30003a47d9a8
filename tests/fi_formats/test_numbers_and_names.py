"""The strict number grammar, the one-line helpers and the shared names: what they accept is
what the writers produce, and nothing Python's own parsers would also take. Standard library
and hypothesis only."""

from __future__ import annotations

import string

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from fi_formats import names, numbers, oneline

PROPERTY = settings(max_examples=300, deadline=None, derandomize=True, database=None)


@PROPERTY
@given(st.integers(-(2**63), 2**63 - 1))
def test_every_int64_as_written_is_an_integer_and_reads_back(value):
    text = str(value)
    assert numbers.INTEGER.fullmatch(text) and numbers.BOUNDED_INTEGER.fullmatch(text)
    assert int(text) == value


@PROPERTY
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_every_finite_float_as_written_is_a_decimal_and_reads_back(value):
    for text in (repr(value), f"{value:.5f}", f"{value:e}"):
        assert numbers.DECIMAL.fullmatch(text) and numbers.BOUNDED_DECIMAL.fullmatch(text)
    assert float(repr(value)) == value


@PROPERTY
@given(st.text(max_size=30))
def test_the_bounded_grammar_accepts_only_what_the_full_one_does(text):
    """The bounded forms are the same grammar, shorter: never more permissive."""
    if numbers.BOUNDED_INTEGER.fullmatch(text):
        assert numbers.INTEGER.fullmatch(text)
    if numbers.BOUNDED_DECIMAL.fullmatch(text):
        assert numbers.DECIMAL.fullmatch(text)
    if numbers.DECIMAL.fullmatch(text):
        float(text)  # whatever the grammar takes, Python reads
    if numbers.INTEGER.fullmatch(text):
        int(text)


def test_what_python_takes_but_a_file_does_not_mean_is_refused():
    for text in ("1_0", "١٢", " 1", "1 ", "0x10", "nan", "inf", "-Infinity", "1e", ".", "+",
                 "", "1.0.0", "1e5.0"):
        assert not numbers.INTEGER.fullmatch(text), text
        assert not numbers.DECIMAL.fullmatch(text), text
    assert not numbers.BOUNDED_INTEGER.fullmatch("1" * 20)
    assert not numbers.BOUNDED_DECIMAL.fullmatch("1e00001")


@PROPERTY
@given(st.text(max_size=2000), st.integers(10, 1200))
def test_one_line_is_one_printable_line_within_its_limit(text, limit):
    for line in (oneline.one_line(text, limit), oneline.printable(text, limit),
                 oneline.joined(text, limit)):
        assert len(line) <= limit
        assert not any(ch in line for ch in "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")
    assert oneline.one_line(text, limit).isprintable()


@PROPERTY
@given(st.text(string.printable.strip() + "éß", max_size=200))
def test_printable_text_within_the_limit_is_kept_as_it_is(text):
    assert oneline.one_line(text) == text == oneline.escaped(text)
    if len(text) <= 300:
        assert oneline.printable(text) == text


@PROPERTY
@given(st.from_regex(r"[A-Za-z_][A-Za-z0-9_-]{0,63}", fullmatch=True))
def test_every_id_prefix_is_a_file_prefix(prefix):
    if names.ID_PREFIX.fullmatch(prefix):
        assert names.FILE_PREFIX.fullmatch(prefix)
        assert not prefix[-1].isdigit()


@PROPERTY
@given(st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,20}", fullmatch=True),
       st.sampled_from([names.FORWARD, *names.BACKWARD_OPS]))
def test_a_layer_name_splits_into_its_site_and_pass(base, pass_):
    assume(not base.endswith(names.BACKWARD_SUFFIXES))  # a site's own name is not a gradient's
    layer = base if pass_ == names.FORWARD else f"{base}_{pass_}"
    assert names.split_layer_name(layer) == (base, pass_)
    stage = names.stage_from_layer(layer)
    assert stage == (names.FORWARD_STAGE if pass_ == names.FORWARD else names.BACKWARD_STAGE)
    assert stage in names.STAGES
