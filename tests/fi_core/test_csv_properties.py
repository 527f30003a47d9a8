"""Property tests of the injection-CSV reader: arbitrary bytes, arbitrary Unicode, CSV-shaped
text with hostile values, and mutations of valid files give either a valid `Injection` or a
`BadInput` whose message is one printable line, never another exception. And `fi-core
validate` over a list of hostile files prints one line per bad file and exits 2.
No TensorFlow."""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fi_core.spec import campaign, injection, workloads
from fi_core.spec.errors import BadInput

ROOT = Path(__file__).resolve().parents[2]
ARTIFACT_CSVS = sorted((ROOT / "injections" / "artifact").glob("resnet18*/*.csv"))
PROPERTY = settings(max_examples=150, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow])
SCRATCH = Path(tempfile.mkdtemp(prefix="fi_csv_properties_"))
atexit.register(shutil.rmtree, SCRATCH, True)


def _generated_texts() -> list[str]:
    """Valid CSVs of every kind the engine writes: listed values, bits, sources, runs."""
    config = workloads.resolve("resnet18_small", {"epochs": "3"})
    out = SCRATCH / "generated"
    texts = []
    for fmodels in (("RD",), ("RBFLIP",), ("N16_RD_CORRECT",), ("RD_GLB",), ("N64_WT_GLB",)):
        spec = campaign.CampaignSpec("resnet18_small", config, {"epochs": "3"}, fmodels=fmodels)
        path = campaign.generate(spec, 1, seed=1, out=out, prefix=fmodels[0])[0]
        texts.append(path.read_text())
    return texts


VALID_TEXTS = [p.read_text() for p in ARTIFACT_CSVS] + _generated_texts()


def parse_bytes(data: bytes) -> injection.Injection | None:
    """Parse `data` as a CSV file; check the property; the Injection, or None if refused."""
    fd, name = tempfile.mkstemp(suffix=".csv", dir=SCRATCH)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    try:
        return injection.parse(name)
    except BadInput as error:
        message = str(error)
        assert message.isprintable(), message  # one line: no newline or control character
        assert message.startswith(f"{name}: ")
        return None
    finally:
        os.unlink(name)


@PROPERTY
@given(st.binary(max_size=4096))
def test_arbitrary_bytes(data):
    parse_bytes(data)


@PROPERTY
@given(st.text(max_size=2048))
def test_arbitrary_unicode(text):
    parse_bytes(text.encode("utf-8", "surrogatepass"))


KEYS = [*sorted(injection.known_keys()), "", "colour", "inj_pos ", "\ufeffmodel"]
NUMBERISH = st.one_of(
    st.from_regex(r"[+-]?[0-9]{1,25}", fullmatch=True),
    st.from_regex(r"[+-]?[0-9]{0,5}\.?[0-9]{0,5}([eE][+-]?[0-9]{1,4})?", fullmatch=True),
    st.from_regex(r"[0-9]{1,4}(/[0-9]{1,4}){0,5}", fullmatch=True),
    st.sampled_from(["1_9", "\u0661\u0662", " 12 ", "nan", "inf", "-0", "1e39", "0x10",
                     "9" * 400, "3/", "/", "1//2", "resnet18", "resnet18_small",
                     "fwrd_inject", "bkwd_inject", "RD", "RD_GLB", "conv1", "conv1_grad_in"]),
    st.text(max_size=12),
)


@PROPERTY
@given(st.dictionaries(st.sampled_from(KEYS), st.lists(NUMBERISH, max_size=6), max_size=16),
       st.booleans())
def test_csv_shaped_text_with_hostile_values(rows, crlf):
    text = injection.render(rows)
    if crlf:
        text = text.replace("\n", "\r\n")
    parse_bytes(text.encode("utf-8", "surrogatepass"))


@PROPERTY
@given(st.sampled_from(VALID_TEXTS), st.data())
def test_mutated_valid_files(text, data):
    lines = text.splitlines()
    kind = data.draw(st.sampled_from(
        ["replace", "delete", "duplicate", "swap", "bom", "bytes", "spaces"]))
    if kind == "replace":
        i = data.draw(st.integers(0, len(text)))
        j = data.draw(st.integers(i, min(len(text), i + 8)))
        text = text[:i] + data.draw(st.text(max_size=8)) + text[j:]
    elif kind == "delete":
        del lines[data.draw(st.integers(0, len(lines) - 1))]
        text = "\n".join(lines)
    elif kind == "duplicate":
        lines.append(lines[data.draw(st.integers(0, len(lines) - 1))])
        text = "\n".join(lines)
    elif kind == "swap":  # one key's values under another key
        a, b = (data.draw(st.integers(0, len(lines) - 1)) for _ in range(2))
        key_a, _, rest_a = lines[a].partition(",")
        key_b, _, rest_b = lines[b].partition(",")
        lines[a], lines[b] = f"{key_a},{rest_b}", f"{key_b},{rest_a}"
        text = "\n".join(lines)
    elif kind == "bom":
        text = "\ufeff" + text
    elif kind == "spaces":
        separator = data.draw(st.sampled_from([", ", " ,", ",\t", ",\u00a0"]))
        text = text.replace(",", separator)
    if kind == "bytes":
        raw = bytearray(text.encode())
        i = data.draw(st.integers(0, len(raw) - 1))
        raw[i] = data.draw(st.integers(0, 255))
        hit = parse_bytes(bytes(raw))
    else:
        hit = parse_bytes(text.encode("utf-8", "surrogatepass"))
    if kind == "bom":  # tolerated
        assert hit is not None
    if kind == "duplicate":  # a key twice
        assert hit is None
    if kind == "spaces":  # spaces and tabs around fields are ignored, other blanks are not
        assert (hit is not None) == (separator != ",\u00a0")


def test_valid_files_parse_and_round_trip():
    for text in VALID_TEXTS:
        hit = parse_bytes(text.encode())
        assert hit is not None
        again = parse_bytes(injection.render(hit.rows).encode())
        assert (again.flat.tolist(), again.span, again.value_kind, again.requested) == (
            hit.flat.tolist(), hit.span, hit.value_kind, hit.requested)


HOSTILE = {
    "binary.csv": bytes(range(256)),
    "latin1.csv": VALID_TEXTS[0].replace("resnet18", "r\u00e9snet18").encode("latin-1"),
    "utf16.csv": VALID_TEXTS[0].encode("utf-16"),
    "nul.csv": VALID_TEXTS[0].encode().replace(b"\n", b"\n\x00", 1),
    "long_field.csv": VALID_TEXTS[0].replace("0.001", "0." + "1" * 200_000).encode(),
    "underscore.csv": VALID_TEXTS[0].replace("target_step,38", "target_step,3_8").encode(),
    "arabic_digits.csv": VALID_TEXTS[0].replace("target_step,38",
                                                "target_step,\u0663\u0668").encode(),
    "newline_key.csv": b'"mod\nel",resnet18\n' + VALID_TEXTS[0].encode(),
}


def test_validate_reports_every_bad_file_in_one_line(tmp_path):
    paths = []
    for name, data in HOSTILE.items():
        (tmp_path / name).write_bytes(data)
        paths.append(tmp_path / name)
    (tmp_path / "a_folder.csv").mkdir()
    paths.append(tmp_path / "a_folder.csv")
    good = tmp_path / "good.csv"
    good.write_text(VALID_TEXTS[0])
    result = subprocess.run([sys.executable, "-m", "fi_core", "validate", str(good),
                             *map(str, paths)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == len(paths), result.stderr
    for path, line in zip(paths, lines, strict=True):
        assert line.startswith(f"{path}: "), line
    assert "Traceback" not in result.stderr
    assert lines[0].endswith("not UTF-8 text (byte 0x80 at offset 128)")
    assert "not a valid CSV (field larger than field limit" in lines[4]
    assert lines[5].endswith("target_step: not an integer: '3_8'")


@pytest.mark.parametrize("size", [injection.MAX_FILE_BYTES + 1])
def test_a_file_over_the_size_cap_is_refused_unread(tmp_path, size):
    path = tmp_path / "huge.csv"
    with path.open("wb") as handle:
        handle.truncate(size)  # sparse: no disk space used
    with pytest.raises(BadInput, match="larger than"):
        injection.parse(path)
