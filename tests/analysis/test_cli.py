"""The command line the pipeline calls: outputs, exit status and one-line errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd

from analysis.cli import main

ROOT = Path(__file__).resolve().parents[2]


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_module_entry_point_on_artifact_without_tensorflow(artifact_traces: Path) -> None:
    """`python -m analysis classify` on the artifact traces; no TensorFlow/fi_core imported."""
    immediate = artifact_traces / "replay_inj_immediate_infs_nans.txt"
    probe = (
        "import runpy, sys; sys.argv = ['analysis', 'classify', sys.argv[1], '--golden', "
        "sys.argv[2]];\ntry:\n    runpy.run_module('analysis', run_name='__main__')\n"
        "except SystemExit as e:\n    code = e.code\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'fi_core')]\n"
        "print('IMPORTED', bad); sys.exit(code)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe, str(immediate), str(artifact_traces / "fault_free.txt")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [f"{immediate}\tImmediate INFs/NaNs", "IMPORTED []"]


def test_classify_many(capsys, campaign) -> None:
    a = campaign.inject("inj_a", nonfinite_at=(5, 3))
    b = campaign.inject("inj_b", fmt="txt")
    code, out, err = run(
        capsys, "classify", str(a), str(b), "--golden", str(campaign.golden_path), "--jobs", "1"
    )
    assert code == 0 and err == ""
    assert out == f"{a}\tImmediate INFs/NaNs\n{b}\tMasked\n"


def test_threshold_options_are_passed(capsys, campaign) -> None:
    a = campaign.inject("inj_a", train={-1: 0.85})
    code, out, _ = run(capsys, "classify", str(a), "--golden", str(campaign.golden_path))
    assert out.endswith("\tSlowDegrade\n")
    code, out, _ = run(
        capsys,
        "classify",
        str(a),
        "--golden",
        str(campaign.golden_path),
        "--tol-min",
        "0.05",
        "--short-term-steps",
        "3",
        "--chance-margin",
        "0.1",
        "--immediate-backward-steps",
        "2",
    )
    assert code == 0 and out.endswith("\tMasked\n")


def test_errors_are_one_line_and_exit_2(capsys, campaign, tmp_path: Path) -> None:
    from analysis import synthetic as syn

    stranger = campaign.inject("inj_s", golden=syn.golden_record("elsewhere"))
    code, out, err = run(
        capsys,
        "collect",
        str(campaign.traces),
        "--golden",
        str(campaign.golden_path),
        "--out",
        str(tmp_path / "r.parquet"),
    )
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith(f"{stranger}: golden_checkpoint.sha256: ")
    assert not (tmp_path / "r.parquet").exists()
    for argv, start in (
        (["sample-size", "--margin", "1.2", "--confidence", "0.95"], "margin: "),
        (["sample-size", "--margin", "0.05", "--confidence", "0"], "confidence: "),
        (["interval", "5", "3"], "k: must be <= n"),
        (["interval", "0", "0"], "n: must be > 0"),
        (
            ["classify", str(tmp_path / "none"), "--golden", str(campaign.golden_path)],
            f"{tmp_path / 'none'}: no such file",
        ),
        (
            [
                "rates",
                "--table",
                str(tmp_path / "none.parquet"),
                "--by",
                "stage",
                "--out",
                str(tmp_path / "x.csv"),
            ],
            f"{tmp_path / 'none.parquet'}: cannot read",
        ),
    ):
        code, _, err = run(capsys, *argv)
        assert code == 2 and err.startswith(start) and err.count("\n") == 1, (argv, err)


def test_numbers_are_read_strictly(capsys, tmp_path: Path) -> None:
    """Every number of an option goes through one strict reader: non-finite, out-of-range and
    too-close-to-1 values are one line naming the option, exit 2, before any work (these used
    to end in StatisticsError, ZeroDivisionError or an absurd sample size)."""
    nowhere = str(tmp_path / "none")
    out = str(tmp_path / "seq.json")
    cases = [
        (["interval", "5", "10", "--confidence", "0.9999999999999999"],
         "confidence: must be in (0, 0.999999999], got 0.9999999999999999"),
        (["interval", "5", "10", "--method", "clopper-pearson", "--confidence", "nan"],
         "confidence: expected a finite number, got nan"),
        (["sample-size", "--margin", "1e-300", "--confidence", "0.95"],
         "margin: 1e-300 is too small: it needs more than 1e+15 injections (give --population, "
         "or a larger margin)"),
        (["sample-size", "--margin", "1e-10", "--confidence", "0.95"],
         "margin: 1e-10 is too small: it needs more than 1e+15 injections (give --population, "
         "or a larger margin)"),
        (["sample-size", "--margin", "0.05", "--confidence", "0.95", "--population", str(10**20)],
         "population: 100000000000000000000 is outside [1, 1000000000000000]"),
        (["sample-size", "--margin", "0.05", "--confidence", "0.95", "--p", "inf"],
         "p: expected a finite number, got inf"),
        (["classify", nowhere, "--golden", nowhere, "--tol-min", "inf"],
         "--tol-min: expected a finite number, got inf"),
        (["classify", nowhere, "--golden", nowhere, "--chance-margin", "nan"],
         "--chance-margin: expected a finite number, got nan"),
        (["classify", nowhere, "--golden", nowhere, "--short-term-steps", "9" * 40],
         "--short-term-steps: 99999999... (40 digits) is outside [0, 2147483648]"),
        (["sequential", "--table", nowhere, "--by", "stage", "--half-width", "0.1",
          "--confidence", "0.99999999", "--looks", "20", "--out", out],
         "--confidence: 0.99999999 is too close to 1 for 20 looks: each look's level, "
         "1 - (1 - confidence) / 20, must be at most 0.999999999"),
        (["sequential", "--table", nowhere, "--by", "stage", "--half-width", "nan",
          "--out", out], "--half-width: expected a finite number, got nan"),
    ]
    for argv, line in cases:
        assert run(capsys, *argv) == (2, "", line + "\n"), argv
    assert list(tmp_path.iterdir()) == []
    # Still answered: the population bounds a tiny margin's sample size.
    argv = ["sample-size", "--margin", "1e-300", "--confidence", "0.95", "--population", "1000"]
    assert run(capsys, *argv) == (0, "1000\n", "")


def test_sample_size_and_interval(capsys) -> None:
    assert run(capsys, "sample-size", "--margin", "0.05", "--confidence", "0.95")[1] == "385\n"
    assert (
        run(
            capsys,
            "sample-size",
            "--margin",
            "0.05",
            "--confidence",
            "0.95",
            "--population",
            "1000",
        )[1]
        == "278\n"
    )
    assert (
        run(capsys, "sample-size", "--margin", "0.01", "--confidence", "0.95", "--p", "0.1")[1]
        == "3458\n"
    )
    assert run(capsys, "interval", "0", "10")[1] == "0\t0.277533\n"


def test_collect_rates_summary_compare(capsys, campaign, tmp_path: Path) -> None:
    for i in range(12):
        campaign.inject(
            f"inj_{i:02d}",
            epoch=1 + i,
            step=i % 12,
            stage="bkwd_inject" if i % 2 else "fwrd_inject",
            fmodel="RD" if i % 3 else "ZERO",
            **({"nonfinite_at": (1 + i, i % 12)} if i % 4 == 0 else {}),
        )
    out, curves = tmp_path / "results.parquet", tmp_path / "curves.parquet"
    code, _, err = run(
        capsys,
        "collect",
        str(campaign.traces),
        "--golden",
        str(campaign.golden_path),
        "--out",
        str(out),
        "--curves",
        str(curves),
    )
    assert code == 0 and "12 experiments" in err
    for by in ("workload,stage", "fmodel", "target_layer", "replica", "epoch_bucket"):
        csv, md = tmp_path / "rates.csv", tmp_path / "rates.md"
        code, _, err = run(
            capsys,
            "rates",
            "--table",
            str(out),
            "--by",
            by,
            "--out",
            str(csv),
            "--markdown",
            str(md),
            "--method",
            "jeffreys",
        )
        assert code == 0, err
        rates = pd.read_csv(csv)
        assert list(rates.columns[: len(by.split(","))]) == by.split(",")
        assert md.read_text().count("\n| ") >= 2
    code, out_text, _ = run(capsys, "summary", "--table", str(out))
    assert code == 0 and "Goodman" in out_text and "bkwd_inject" in out_text
    code, out_text, _ = run(
        capsys, "compare", "--table", str(out), "--by", "stage", "--outcome", "Masked"
    )
    assert code == 0 and "test: fisher-exact" in out_text
    code, _, err = run(
        capsys, "rates", "--table", str(out), "--by", "nope", "--out", str(tmp_path / "x.csv")
    )
    assert code == 2 and err == f"{out}: nope: no such column in the results table\n"


def test_console_script_entry_point_resolves() -> None:
    """Whatever pyproject.toml names as `fi-analysis` exists and is the CLI."""
    import importlib
    import tomllib

    target = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"][
        "fi-analysis"
    ]
    module, _, func = target.partition(":")
    assert module.split(".")[0] == "analysis"
    assert callable(getattr(importlib.import_module(module), func))


def test_arguments_from_a_file(capsys, campaign, tmp_path: Path) -> None:
    paths = [campaign.inject(f"inj_{i}", nonfinite_at=(5, 3)) for i in range(3)]
    listing = tmp_path / "traces.txt"
    listing.write_text("".join(f"{p}\n" for p in paths))
    code, out, _ = run(capsys, "classify", f"@{listing}", "--golden", str(campaign.golden_path))
    assert code == 0
    assert out == "".join(f"{p}\tImmediate INFs/NaNs\n" for p in paths)


def test_outputs_are_checked_before_any_work(capsys, campaign, tmp_path: Path) -> None:
    """A bad output path is refused first: the foreign trace in the campaign (which would stop
    collect once read) is never reached, and nothing is written."""
    from analysis import synthetic as syn

    campaign.inject("inj_a")
    campaign.inject("inj_foreign", golden=syn.golden_record("elsewhere"))
    golden = str(campaign.golden_path)
    a_dir, a_file = tmp_path / "adir", tmp_path / "afile"
    a_dir.mkdir()
    a_file.write_text("x")
    traces = str(campaign.traces)
    table = ROOT / "reference" / "none.parquet"
    before = sorted(p.name for p in tmp_path.iterdir())
    for argv, expected in (
        (
            ["collect", traces, "--golden", golden, "--out", str(a_dir)],
            f"{a_dir}: --out: is a directory, not a file",
        ),
        (
            [
                "collect",
                traces,
                "--golden",
                golden,
                "--out",
                str(tmp_path / "r.parquet"),
                "--curves",
                str(a_file / "c.parquet"),
            ],
            f"{a_file / 'c.parquet'}: --curves: {a_file} is not a directory",
        ),
        (
            [
                "collect",
                traces,
                "--golden",
                golden,
                "--out",
                str(tmp_path / "r.parquet"),
                "--curves",
                str(tmp_path / "r.parquet"),
            ],
            f"{tmp_path / 'r.parquet'}: --curves: is also the --out output: refusing to "
            "overwrite it",
        ),
        (
            ["collect", traces, "--golden", golden, "--out", golden],
            f"{golden}: --out: is also an input",
        ),
        (
            ["rates", "--table", str(a_file), "--by", "stage", "--out", str(a_file)],
            f"{a_file}: --out: is also an input",
        ),
        (
            ["rates", "--table", str(table), "--by", "stage", "--out", str(a_dir)],
            f"{a_dir}: --out: is a directory",
        ),
        (
            ["summary", "--table", str(table), "--out", str(a_dir)],
            f"{a_dir}: --out: is a directory",
        ),
        (
            [
                "figures",
                "--table",
                str(table),
                "--curves",
                str(table),
                "--golden",
                golden,
                "--out-dir",
                str(a_file),
            ],
            f"{a_file}: --out-dir: exists and is not a directory",
        ),
        (
            ["captions", "--out-dir", str(a_file)],
            f"{a_file}: --out-dir: exists and is not a directory",
        ),
        (["captions", "--out-dir", ""], "'': --out-dir: not a directory name"),
        (
            ["collect", traces, "--golden", golden],
            "fi-analysis collect: the following arguments are required: --out",
        ),
        (["nope"], "fi-analysis: argument COMMAND: invalid choice: 'nope'"),
        (
            ["rates", "--table", "t", "--by", "stage", "--out", "o", "--method", "x"],
            "fi-analysis rates: argument --method",
        ),
    ):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse
            code = exc.code
        out, err = capsys.readouterr()
        assert code == 2 and out == "" and err.count("\n") == 1, (argv, err)
        assert err.startswith(expected), (argv, err)
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_unexpected_errors_are_one_line(capsys, campaign, monkeypatch, tmp_path: Path) -> None:
    import analysis.collect

    def broken(*args, **kwargs):
        raise RuntimeError("boom\n  in two lines")

    monkeypatch.setattr(analysis.collect, "collect", broken)
    argv = ["collect", str(campaign.traces), "--golden", str(campaign.golden_path)]
    code = main([*argv, "--out", str(tmp_path / "r.parquet")])
    out, err = capsys.readouterr()
    assert (code, out) == (1, "")
    assert err == "fi-analysis collect: internal error: RuntimeError: boom; in two lines\n"


def _interrupt(argv: list[str], tmp: Path, signum: int) -> tuple[int, str]:
    """Start `python -m analysis ...` in its own process group, wait until it has opened its
    output (a hidden temporary file in ``tmp``), then send ``signum`` to the whole group, as a
    terminal's Ctrl-C (or a scheduler's kill) does."""
    import os
    import signal
    import time

    proc = subprocess.Popen(
        [sys.executable, "-m", "analysis", *argv],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while not any(p.name.endswith(".tmp") for p in tmp.iterdir()):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.002)
    os.killpg(proc.pid, signum)
    _, err = proc.communicate(timeout=60)
    assert signal.Signals(signum).name in err
    return proc.returncode, err


def test_interrupts_leave_nothing_half_written(tmp_path: Path) -> None:
    """SIGINT (exit 130) and SIGTERM (exit 143) during collect and figures: one line on
    stderr (none from the worker processes), and no output, not even a temporary file."""
    import signal

    from analysis import synthetic as syn
    from analysis.collect import collect

    golden = syn.golden_record("golden")
    syn.write_json(tmp_path / "golden.json", golden)
    traces = tmp_path / "traces"
    traces.mkdir()
    text = syn.json_text(syn.injection_record("inj", golden, 3, 2))
    for i in range(1500):  # enough work to be interrupted in the middle of
        (traces / f"inj_{i:05d}.json").write_text(text)
    out = tmp_path / "out"
    out.mkdir()
    argv = ["collect", str(traces), "--golden", str(tmp_path / "golden.json")]
    argv += ["--out", str(out / "r.parquet"), "--curves", str(out / "c.parquet")]
    for signum, jobs, status in ((signal.SIGINT, "2", 130), (signal.SIGTERM, "1", 143)):
        code, err = _interrupt([*argv, "--jobs", jobs], out, signum)
        assert code == status and err.count("\n") == 1, err
        assert err.startswith("fi-analysis collect: interrupted (SIG"), err
        assert list(out.iterdir()) == []
    # figures: the old figures stay as they were, no new folder, no temporary folder.
    table, curves = tmp_path / "r.parquet", tmp_path / "c.parquet"
    collect(
        [str(traces / "inj_00000.json")], [str(tmp_path / "golden.json")], str(table), str(curves)
    )
    figures = out / "figures"
    figures.mkdir()
    (figures / "old.png").write_text("old")
    argv = ["figures", "--table", str(table), "--curves", str(curves)]
    argv += ["--golden", str(tmp_path / "golden.json"), "--out-dir", str(figures)]
    code, err = _interrupt(argv, out, signal.SIGTERM)
    assert code == 143 and err == "fi-analysis figures: interrupted (SIGTERM): no output written\n"
    assert [p.name for p in out.iterdir()] == ["figures"]
    assert [p.name for p in figures.iterdir()] == ["old.png"]


def _limited(argv: list[str], stdin: object = subprocess.DEVNULL) -> tuple[int, str, str]:
    """`python -m <argv>` with its memory capped at 1 GiB and a time limit: a command that read
    /dev/zero whole or opened a FIFO fails here instead of taking the machine with it."""
    import resource

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))

    proc = subprocess.run(
        [sys.executable, "-m", *argv],
        cwd=ROOT,
        stdin=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=cap,
    )
    return proc.returncode, proc.stdout, proc.stderr


def _hostile_files(tmp_path: Path) -> dict[str, Path]:
    """A FIFO, a sparse file of 9 MiB (larger than any small input may be) and a non-UTF-8
    list; /dev/zero is the device."""
    import os

    fifo, big, latin = tmp_path / "fifo", tmp_path / "big", tmp_path / "latin.txt"
    os.mkfifo(fifo)
    with open(big, "wb") as fh:
        fh.truncate(9 * 1024 * 1024)
    latin.write_bytes(b"caf\xe9/traces\n")
    return {"fifo": fifo, "big": big, "latin": latin}


def test_argument_files_are_regular_utf8_and_small(tmp_path: Path, campaign) -> None:
    """@FILE: a device (MemoryError before), a FIFO (blocked before), a file over 8 MiB, a
    non-UTF-8 list (UnicodeDecodeError before), a list naming itself: one line naming the
    file, exit 2, nothing written."""
    files = _hostile_files(tmp_path)
    selfish = tmp_path / "self.txt"
    selfish.write_text(f"@{selfish}\n")
    out = tmp_path / "r.parquet"
    collect = ["analysis", "collect", "--golden", str(campaign.golden_path), "--out", str(out)]
    for listed, reason in (
        ("/dev/zero", "not a regular file (a character device)"),
        (str(files["fifo"]), "not a regular file (a FIFO)"),
        (str(files["big"]), "9437184 bytes, larger than the 8388608 bytes an arguments file "
                            "may have"),
        (str(files["latin"]), "not UTF-8 text (invalid continuation byte at byte 3)"),
        (str(selfish), "@FILE nested more than 10 deep (does it name itself?)"),
    ):
        code, stdout, err = _limited([*collect, f"@{listed}"])
        assert (code, stdout, err) == (2, "", f"{listed}: arguments file: {reason}\n"), listed
    code, _, err = _limited(["analysis", "@/dev/zero"])
    assert (code, err) == (2, "/dev/zero: arguments file: not a regular file (a character "
                              "device)\n")
    assert not out.exists()


def test_check_config_reads_only_a_small_regular_request(tmp_path: Path) -> None:
    """check-config of both tools (the workflow asks each): a device, a FIFO or a huge file
    as --request, or endless standard input, is refused before it is read (it used to read
    /dev/zero until memory ran out, and block on a FIFO)."""
    files = _hostile_files(tmp_path)
    size = 9 * 1024 * 1024
    for tool, kinds in (("analysis", True), ("fi_core", False)):
        for request, reason in (
            ("/dev/zero", "not a regular file" + (" (a character device)" if kinds else "")),
            (str(files["fifo"]), "not a regular file" + (" (a FIFO)" if kinds else "")),
            (str(files["big"]), f"{size} bytes, larger than the 8388608 bytes a request may have"),
        ):
            code, stdout, err = _limited([tool, "check-config", "--request", request])
            assert (code, stdout, err) == (2, "", f"{request}: request: {reason}\n"), (tool, err)
        with open("/dev/zero", "rb") as endless:
            code, stdout, err = _limited([tool, "check-config"], stdin=endless)
        assert (code, stdout) == (2, ""), (tool, err)
        assert err == "-: request: larger than the 8388608 bytes a request may have\n", tool
        good = tmp_path / "request.json"
        good.write_text("{}")
        code, stdout, err = _limited([tool, "check-config", "--request", str(good)])
        assert code == 0 and stdout.startswith('{"format": '), (tool, err)
