"""Hostile but fair input to every fi-core command, refused before any work: one line on stderr
(escaped, whatever the input holds), exit status 2, nothing written, TensorFlow never started.
Also: a closed stdout, an unexpected error (exit 1, one line), an interrupt (143), and a
command that fails half-way leaving its output folder as it was."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fi_core.commands import cli
from fi_core.spec import workloads
from fi_core.spec.errors import MAX_LINE, BadInput
from fi_core.store import files
from tests.fi_core.hostile import NO_TF_MARKER, one_line, run_cli, run_main


def call(*args: str) -> int:
    """`fi-core ARGS` in this process (a usage error is argparse's SystemExit)."""
    try:
        return cli.main(list(args))
    except SystemExit as stop:
        return int(stop.code)


@pytest.fixture
def place(tmp_path: Path) -> Path:
    """A scratch folder with a plain file `afile` and a folder `mine` that is no golden run."""
    (tmp_path / "afile").write_text("keep me\n")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me too\n")
    return tmp_path


GEN = ("generate", "--n", "3", "--seed", "1")
CASES = {
    # strict numbers: Python's int() and float() take all of these
    "set 1_9": (("sites", "--set", "epochs=1_9"), "--set: epochs: expected an int, got '1_9'"),
    "set arabic digits": (("sites", "--set", "epochs=١٢"),
                          "--set: epochs: expected an int, got '١٢'"),
    "set nan": (("sites", "--set", "dropout= nan"),
                "--set: dropout: expected a finite float, got 'nan'"),
    "set inf": (("sites", "--set", "learning_rate=inf"),
                "--set: learning_rate: expected a finite float, got 'inf'"),
    "set overflow": (("sites", "--set", "learning_rate=1e400"),
                     "--set: learning_rate: expected a finite float, got '1e400'"),
    "set past int64": (("sites", "--set", "seed=9223372036854775808"),
                       "--set: seed: expected an int, got '9223372036854775808'"),
    "set hex": (("sites", "--set", "epochs=0x10"), "--set: epochs: expected an int"),
    "set bool": (("sites", "--set", "flip=yes"), "--set: flip: expected true, false, 1 or 0"),
    "set no value": (("sites", "--set", "epochs"), "--set: epochs: expected field=value"),
    "set twice": (("sites", "--set", "epochs=2", "--set", "epochs=3"),
                  "--set: epochs: given twice"),
    "set unknown": (("sites", "--set", "colour\x1b[31m=red"),
                    "--set: colour\\x1b[31m: not a workload field"),
    "n 1_0": (("generate", "--n", "1_0", "--seed", "1", "--out", "{tmp}/c"),
              "fi-core generate: argument --n: expected an integer (ASCII digits), got '1_0'"),
    "seed arabic": (("generate", "--n", "3", "--seed", "١", "--out", "{tmp}/c"),  # noqa: RUF001
                    "fi-core generate: argument --seed: expected an integer"),
    "min epoch 1_0": ((*GEN, "--min-epoch", "1_0", "--out", "{tmp}/c"),
                      "fi-core generate: argument --min-epoch: expected an integer"),
    "value range 1_0": ((*GEN, "--value-range", "1_0,20", "--out", "{tmp}/c"),
                        "--value-range: value_range: expected LO,HI (two decimal numbers)"),
    "value range nan": ((*GEN, "--value-range", "nan,1", "--out", "{tmp}/c"),
                        "--value-range: value_range: expected LO,HI"),
    "value range past fp32": ((*GEN, "--value-range", "1e39,2e39", "--out", "{tmp}/c"),
                              "campaign: value_range: (1e+39, 2e+39) is not a finite fp32"),
    "value range inverted": ((*GEN, "--value-range", "2,1", "--out", "{tmp}/c"),
                             "campaign: value_range: (2.0, 1.0) is not a finite fp32 range"),
    "value range empty in fp32": ((*GEN, "--value-range", "1,1.00000001", "--out", "{tmp}/c"),
                                  "campaign: value_range: (1.0, 1.00000001) is empty in fp32 "
                                  "(low and high are the same fp32 value)"),
    "unknown layer": ((*GEN, "--layers", "conv1,bogus", "--out", "{tmp}/c"),
                      "campaign: layers: 'bogus' is not a layer of workload resnet18_small"),
    "unknown backward op": ((*GEN, "--backward-ops", "grad_x", "--out", "{tmp}/c"),
                            "campaign: backward_ops: unknown 'grad_x'"),
    "min epoch past the end": ((*GEN, "--min-epoch", "20", "--out", "{tmp}/c"),
                               "campaign: min_epoch: 20 is not below the workload's 20 epochs"),
    # outputs of the wrong kind or in a place that cannot be written
    "generate out is a file": ((*GEN, "--out", "{tmp}/afile"),
                               "{tmp}/afile: --out: exists and is not a folder"),
    "generate out under a file": ((*GEN, "--out", "{tmp}/afile/c"),
                                  "{tmp}/afile/c: --out: {tmp}/afile is not a folder"),
    "generate out unwritable": ((*GEN, "--out", "/proc/self/fi-core-c"),
                                "/proc/self/fi-core-c: --out: cannot write in /proc/self"),
    "golden out is a file": (("golden", "--out", "{tmp}/afile"),
                             "{tmp}/afile: --out: exists and is not a folder"),
    "golden out is another folder": (("golden", "--out", "{tmp}/mine"),
                                     "{tmp}/mine: --out: holds 'notes.txt', which is not part "
                                     "of a golden run: refusing to replace this folder"),
    "golden out is .": (("golden", "--out", "."),
                        ".: --out: not a folder name that can be replaced"),
    "golden out is /": (("golden", "--out", "/"),
                        "/: --out: not a folder name that can be replaced"),
    "golden out unwritable": (("golden", "--out", "/proc/self/fi-core-g"),
                              "/proc/self/fi-core-g: --out: cannot write in /proc/self"),
    "golden out with a newline": (("golden", "--out", "{tmp}/afile/x\ny"),
                                  "{tmp}/afile/x\\ny: --out: {tmp}/afile is not a folder"),
    "golden out with a NUL": (("golden", "--out", "{tmp}/x\0y"),
                              "{tmp}/x\\x00y: --out: contains a NUL character"),
    "golden bad setting first": (("golden", "--set", "epochs=0", "--out", "{tmp}/g"),
                                 "--set: epochs: must be at least 1"),
    "golden unknown workload": (("golden", "--workload", "x\u202ey", "--out", "{tmp}/g"),
                                "--workload: workload: unknown workload 'x\\u202ey'"),
    "inject missing golden": (("inject", "--file", "{csv}", "--golden", "{tmp}/nothing",
                               "--out-dir", "{tmp}/t"), "{tmp}/nothing: --golden: No such"),
    "inject golden is a file": (("inject", "--file", "{csv}", "--golden", "{tmp}/afile",
                                 "--out-dir", "{tmp}/t"), "{tmp}/afile: --golden: not a folder"),
    "validate a folder": (("validate", "{tmp}/mine"), "{tmp}/mine: file: not a regular file"),
    "usage": (("golden", "--out", "{tmp}/g", "--bogus"),
              "fi-core: unrecognized arguments: --bogus"),
    "usage strategy": (("golden", "--strategy", "gpu\n"),
                       "fi-core golden: argument --strategy: invalid choice: 'gpu\\n'"),
}


@pytest.fixture(scope="module")
def csv_file(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("csv")
    assert call("generate", "--n", "1", "--seed", "3", "--set", "epochs=2", "--out",
                str(out)) == 0
    return out / "inj_00000.csv"


@pytest.mark.parametrize(("args", "line"), CASES.values(), ids=CASES.keys())
def test_refused_in_one_line_and_nothing_written(place, csv_file, capsys, args, line):
    fill = {"tmp": str(place), "csv": str(csv_file)}
    before = sorted(p.relative_to(place) for p in place.rglob("*"))
    code = call(*(arg.format(**fill) for arg in args))
    captured = capsys.readouterr()
    assert code == 2
    assert one_line(captured.err).startswith(line.format(**fill))
    assert captured.out == ""
    assert sorted(p.relative_to(place) for p in place.rglob("*")) == before
    assert (place / "afile").read_text() == "keep me\n"


def test_a_very_long_path_is_one_line_of_bounded_length(place, capsys):
    deep = place / "afile" / "/".join(["d" * 200] * 15)
    assert call("golden", "--out", str(deep)) == 2
    line = one_line(capsys.readouterr().err)
    assert len(line) <= MAX_LINE and line.startswith(str(place)) and "..." in line
    assert line.endswith(f"--out: {place / 'afile'} is not a folder")


def test_a_symbolic_link_is_not_replaced(place, capsys):
    link = place / "link"
    link.symlink_to(place / "mine")
    assert call("golden", "--out", str(link)) == 2
    assert one_line(capsys.readouterr().err) == (f"{link}: --out: is a symbolic link (give the "
                                                 "folder itself)")
    assert (place / "mine" / "notes.txt").exists()


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=30))
def test_any_set_value_is_a_value_of_its_type_or_one_line(text):
    for key in ("epochs", "learning_rate", "flip", "dataset"):
        try:
            config = workloads.resolve("resnet18_small", {key: text}, "--set")
        except BadInput as refused:
            assert "\n" not in str(refused) and str(refused).isprintable()
            continue
        value = getattr(config, key)
        plain = text.strip(" \t")
        if key == "epochs":
            assert plain.lstrip("+-").isascii() and plain.lstrip("+-").isdigit()
            assert value == int(plain) >= 1
        elif key == "learning_rate":
            assert plain.isascii() and "_" not in plain and 0 < value < float("inf")
        elif key == "flip":
            assert plain.lower() in ("true", "false", "1", "0")
        else:
            assert value in workloads.DATASETS


# ---------------------------------------------------------------- checked before TensorFlow
def test_a_golden_run_with_a_bad_output_never_starts_tensorflow(place):
    result = run_main("golden", "--set", "epochs=2", "--out", str(place / "mine"))
    assert result.returncode == 2
    assert one_line(result.stderr).startswith(f"{place / 'mine'}: --out: holds 'notes.txt'")
    assert result.stdout == NO_TF_MARKER + "\n"


def test_a_closed_stdout_is_no_traceback():
    """`fi-core describe --json | head -1`, with the reader gone before anything is written."""
    process = subprocess.Popen([sys.executable, "-m", "fi_core", "describe", "--json"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.close()
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=120) == cli.BROKEN_PIPE
    assert stderr == ""


def test_an_unexpected_error_is_one_line_and_exit_1(tmp_path):
    (tmp_path / "breaks_sites.py").write_text(
        "from fi_core.spec import architecture\n"
        "def broken(*args, **kwargs):\n"
        "    raise ZeroDivisionError('a bug\\nover two lines')\n"
        "architecture.forward_layers = broken\n")
    env = {"PYTHONPATH": f"{tmp_path}:{Path(__file__).resolve().parents[2]}"}
    result = run_cli("sites", "--plugin", "breaks_sites", env=env, text=True)
    assert result.returncode == 1
    assert one_line(result.stderr) == ("fi-core sites: failed: ZeroDivisionError: a bug\\nover "
                                       "two lines (FI_CORE_DEBUG=1 shows the traceback)")
    debug = run_cli("sites", "--plugin", "breaks_sites", env={**env, cli.DEBUG_ENV: "1"},
                    text=True)
    assert debug.returncode == 1 and "Traceback (most recent call last)" in debug.stderr


def test_sigterm_ends_generate_with_143_and_no_csv(tmp_path):
    out = tmp_path / "csv"
    out.mkdir()
    (out / "older.csv").write_text("keep\n")
    process = subprocess.Popen([sys.executable, "-m", "fi_core", "generate", "--n", "2000000",
                                "--seed", "1", "--out", str(out)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not any(p.name.startswith(".staged.") for p in out.iterdir()):  # CSVs being written
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(0.2)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 143
    assert one_line(stderr) == "fi-core generate: interrupted (SIGTERM): no CSV written"
    assert [p.name for p in out.iterdir()] == ["older.csv"]


def test_staged_files_appear_together_or_not_at_all(tmp_path):
    out = tmp_path / "new"
    with contextlib.suppress(RuntimeError), files.staged_files(out) as work:
        (work / "a.csv").write_text("a")
        raise RuntimeError("failed half-way")
    assert not out.exists()
    with files.staged_files(out) as work:
        (work / "a.csv").write_text("a")
        (work / "b.csv").write_text("b")
    assert sorted(p.name for p in out.iterdir()) == ["a.csv", "b.csv"]


# ---------------------------------------------------------------- interrupts Python hides
INTERRUPTING = {
    # Python wraps an exception raised in __set_name__ in a RuntimeError (an interrupt during
    # an import of TensorFlow's dependencies ended as `failed: RuntimeError`, exit 1).
    "set_name": ("import os, signal\n"
                 "class Stop:\n"
                 "    def __set_name__(self, owner, name):\n"
                 "        os.kill(os.getpid(), signal.{sig})\n"
                 "        for _ in range(10**6): pass\n"
                 "class Owner:\n"
                 "    stop = Stop()\n"),
    # An exception in a destructor is printed with a traceback, and the program goes on.
    "destructor": ("import os, signal\n"
                   "class Stop:\n"
                   "    def __del__(self):\n"
                   "        os.kill(os.getpid(), signal.{sig})\n"
                   "        for _ in range(10**6): pass\n"
                   "Stop()\n"
                   "for _ in range(10**6): pass\n"),
}


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=lambda s: s.name)
@pytest.mark.parametrize("where", INTERRUPTING)
def test_an_interrupt_python_would_wrap_or_swallow_is_still_one_line(tmp_path, where, sig):
    (tmp_path / "interrupting.py").write_text(INTERRUPTING[where].format(sig=sig.name))
    env = {"PYTHONPATH": f"{tmp_path}:{Path(__file__).resolve().parents[2]}"}
    result = run_cli("describe", "--json", "--plugin", "interrupting", env=env, text=True)
    assert result.returncode == cli.SIGNAL_STATUS[sig]
    assert one_line(result.stderr) == (f"fi-core describe: interrupted ({sig.name}): nothing "
                                       "written")
    assert result.stdout == ""


def test_a_signal_held_during_start_up_is_delivered_as_an_interrupt(capsys):
    """`python -m fi_core` holds a stop signal that arrives while it imports the command line
    (`fi_core.__main__`); `main` delivers it before anything else (the command not yet
    parsed): one line and 143, nothing run."""
    assert cli.main(["describe", "--json"], held=[signal.SIGTERM]) == 143
    captured = capsys.readouterr()
    assert captured.out == ""
    assert one_line(captured.err) == "fi-core: interrupted (SIGTERM): nothing written"
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # handlers restored
