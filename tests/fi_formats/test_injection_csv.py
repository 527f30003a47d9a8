"""The injection CSV's one reader and writer: rows written are the rows read back, any bytes
give the rows or one CsvError (never another exception), and a key given twice is refused.
Standard library and hypothesis only."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fi_formats import injection_csv as ic

PROPERTY = settings(max_examples=200, deadline=None, derandomize=True, database=None)

# A field as the reader keeps it: no space or tab around it, no NUL, not empty (trailing empty
# fields of a row are dropped), within the length limit; and as the writer can write it: no
# carriage return (csv.writer does not quote one, the reader would end the row there).
field = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\r"),
                min_size=1, max_size=40).map(lambda t: t.strip(ic.SPACE)).filter(bool)
rows = st.dictionaries(field, st.lists(field, max_size=5), min_size=1, max_size=8)


@PROPERTY
@given(rows)
def test_rows_written_are_the_rows_read(written):
    assert ic.parse_rows(ic.render(written), "t.csv") == written


@PROPERTY
@given(rows)
def test_a_file_round_trips_through_its_bytes(tmp_path_factory, written):
    path = Path(tmp_path_factory.mktemp("csv")) / "a.csv"
    path.write_bytes(b"\xef\xbb\xbf" + ic.render(written).encode())  # a BOM is tolerated
    assert ic.read_rows(path) == written


@PROPERTY
@given(st.binary(max_size=300))
def test_any_bytes_give_rows_or_one_csv_error(data):
    try:
        got = ic.parse_rows(ic.decode(data, "t.csv"), "t.csv")
    except ic.CsvError as error:
        assert error.source == "t.csv" and "\n" not in str(error)
    else:
        assert got and all(isinstance(v, list) for v in got.values())


@PROPERTY
@given(rows, st.data())
def test_a_key_given_twice_is_refused(written, data):
    key = data.draw(st.sampled_from(sorted(written)))
    text = ic.render(written) + ic.render({key: ["again"]})
    with pytest.raises(ic.CsvError) as error:
        ic.parse_rows(text, "t.csv")
    assert error.value.reason == "appears twice"


def test_spaces_trailing_fields_and_empty_rows_are_dropped():
    text = " model , resnet18 ,,\n\n\t\ninj_pos, 1/2/3/4 ,5/6/7/8,\n"
    assert ic.parse_rows(text, "t.csv") == {"model": ["resnet18"],
                                            "inj_pos": ["1/2/3/4", "5/6/7/8"]}


@pytest.mark.parametrize(("data", "key", "reason"), [
    (b"", "file", "empty"),
    (b"a,\xff\n", "file", "not UTF-8 text (byte 0xff at offset 2)"),
    (b"a,b\x00\n", "file", "contains a NUL character (offset 3)"),
    (b'a,"b\n', "file", "not a valid CSV (unexpected end of data)"),
    (b"a," + b"x" * (ic.MAX_FIELD_CHARS + 1), "a",
     f"a field of {ic.MAX_FIELD_CHARS + 1} characters (at most {ic.MAX_FIELD_CHARS})"),
])
def test_a_bad_csv_is_one_error_naming_file_key_and_reason(data, key, reason):
    with pytest.raises(ic.CsvError) as error:
        ic.parse_rows(ic.decode(data, "t.csv"), "t.csv")
    assert (error.value.key, error.value.reason) == (key, reason)


def test_a_missing_or_oversized_file_is_refused_unread(tmp_path):
    with pytest.raises(ic.CsvError, match="No such file or directory"):
        ic.read_rows(tmp_path / "none.csv")
    with pytest.raises(ic.CsvError, match="not a regular file"):
        ic.read_rows(tmp_path)
    big = tmp_path / "big.csv"
    big.write_bytes(b"a,b\n" * 10)
    with pytest.raises(ic.CsvError, match="larger than 8 bytes"):
        ic.read_bytes(big, "big.csv", limit=8)


def test_render_is_the_artifacts_two_column_layout():
    text = ic.render({"model": ["resnet18"], "inj_pos": ["0/0/0/0", "0/0/0/1"], "x": []})
    assert text == "model,resnet18\ninj_pos,0/0/0/0,0/0/0/1\nx\n"
    assert list(csv.reader(io.StringIO(text))) == [["model", "resnet18"],
                                                   ["inj_pos", "0/0/0/0", "0/0/0/1"], ["x"]]
