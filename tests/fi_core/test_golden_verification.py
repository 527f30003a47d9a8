"""Golden runs are verified before use: a folder appears only whole (its trace written last), a
killed or interrupted golden run leaves no golden run, and a damaged, incomplete or hostile one
(checkpoint bytes, trace.json, trace.txt, workload.json, another model's checkpoint) is refused
in one line naming the file, before TensorFlow starts wherever a file can say so. One small
golden run is shared by the module; inject outputs are checked before any work; SIGTERM leaves
only complete trace pairs."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fi_core.commands import cli
from fi_core.replay import runs
from fi_core.spec import injection, workloads
from fi_core.spec.errors import BadInput
from fi_core.store import golden as golden_folder
from tests.fi_core.hostile import NO_TF_MARKER, one_line, run_main

SMALL = {"epochs": "2"}


@pytest.fixture(scope="module")
def golden(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("golden") / "seed_123"
    runs.golden("resnet18_small", workloads.resolve("resnet18_small", SMALL), out)
    return out


def write_csv(path: Path, **changes: str) -> Path:
    rows = {
        "model": ["resnet18"], "stage": ["fwrd_inject"], "fmodel": ["RD"],
        "target_worker": ["3"], "target_layer": ["basicblock_2_basic_0_conv2"],
        "target_epoch": ["1"], "target_step": ["4"], "inj_pos": ["5/1/2/7"],
        "inj_values": ["2.5"], "learning_rate": ["0.001"], "seed": ["123"],
        "workload": ["resnet18_small"], "epochs": ["2"],
    }
    rows.update({key: value.split(",") for key, value in changes.items()})
    injection.write(path, rows)
    return path


def files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


def test_the_golden_folder_appears_whole_with_its_trace_written_last(golden):
    assert not golden_folder.partial_dir(golden).exists()
    record = json.loads((golden / "trace.json").read_text())
    assert sorted(record["checkpoints"]) == ["0", "1", "initial"]
    trace_time = (golden / "trace.json").stat().st_mtime_ns
    for item in golden.rglob("*"):
        assert item.stat().st_mtime_ns <= trace_time, item
    verified = golden_folder.open_golden(golden)
    assert verified.workload == "resnet18_small" and verified.config.epochs == 2


def _golden_process(out: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "fi_core", "golden", "--set", "epochs=20",
                             "--out", str(out)], stderr=subprocess.PIPE, text=True)


def _after_first_epoch(process: subprocess.Popen, sig: int) -> str:
    """Send `sig` once the run has saved its checkpoint after epoch 0 (it says so after epoch
    1's training); the rest of stderr."""
    for line in process.stderr:
        if " epoch 1: " in line:
            process.send_signal(sig)
            break
    rest = process.stderr.read()
    process.wait(timeout=300)
    return rest


def test_killed_or_interrupted_golden_runs_leave_no_golden_run(tmp_path, golden):
    out = tmp_path / "seed_7"
    partial = golden_folder.partial_dir(out)
    killed = _golden_process(out)
    _after_first_epoch(killed, signal.SIGKILL)
    assert killed.returncode == -signal.SIGKILL
    assert not out.exists()
    assert {"workload.json", "initial", "epoch_0"} <= set(files_under(partial))
    assert "trace.json" not in files_under(partial)
    # What a killed run left is not a golden run: inject refuses it.
    csv = write_csv(tmp_path / "x.csv")
    refused = run_main("inject", "--file", str(csv), "--golden", str(partial), "--out-dir",
                       str(tmp_path / "traces"))
    assert refused.returncode == 2
    assert one_line(refused.stderr) == (f"{partial / 'trace.json'}: golden: no complete golden "
                                        "run here (trace.json missing: the run did not finish)")
    assert refused.stdout == NO_TF_MARKER + "\n"
    # The next run into the same folder starts clean; interrupted, it removes what it wrote.
    interrupted = _golden_process(out)
    rest = _after_first_epoch(interrupted, signal.SIGINT)
    assert interrupted.returncode == 130
    assert one_line(rest) == "fi-core golden: interrupted (SIGINT): no golden run written"
    assert not out.exists() and not partial.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.csv"]


# ---------------------------------------------------------------- damaged golden folders
def _flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def _edit_json(path: Path, edit: Callable[[dict], None]) -> None:
    record = json.loads(path.read_text())
    edit(record)
    path.write_text(json.dumps(record))


def _data_file(folder: Path) -> Path:
    return next(folder.glob("ckpt.data-*"))


DAMAGE: dict[str, tuple[Callable[[Path], object], str]] = {
    "checkpoint byte flipped": (lambda g: _flip_a_byte(_data_file(g / "epoch_0")),
                                "epoch_0: golden checkpoint: sha256 "),
    "checkpoint truncated": (lambda g: _data_file(g / "epoch_0").write_bytes(b""),
                             "epoch_0: golden checkpoint: sha256 "),
    "checkpoint with a file added": (lambda g: (g / "epoch_0" / "extra").write_text("x"),
                                     "epoch_0: golden checkpoint: sha256 "),
    "checkpoint missing": (lambda g: shutil.rmtree(g / "epoch_0"),
                           "epoch_0: golden checkpoint: missing"),
    "checkpoint not recorded": (lambda g: _edit_json(g / "trace.json",
                                                     lambda r: r["checkpoints"].pop("0")),
                                "epoch_0: golden checkpoint: not among the golden run's "),
    "trace.json missing": (lambda g: (g / "trace.json").unlink(),
                           "trace.json: golden: no complete golden run here"),
    "trace.json truncated": (lambda g: (g / "trace.json").write_text(
        (g / "trace.json").read_text()[:500]), "trace.json: file: not valid JSON"),
    "trace.json binary": (lambda g: (g / "trace.json").write_bytes(bytes(range(256)) * 4),
                          "trace.json: file: not UTF-8 (byte 0x80 at offset 128)"),
    "trace.json NaN literal": (lambda g: (g / "trace.json").write_text(
        (g / "trace.json").read_text().replace('"complete": true', '"complete": NaN')),
                               "trace.json: file: not valid JSON (NaN is not JSON)"),
    "trace.json deep": (lambda g: (g / "trace.json").write_text("[" * 100_000 + "]" * 100_000),
                        "trace.json: file: JSON nested too deeply"),
    "trace.json of an injection": (lambda g: _edit_json(g / "trace.json",
                                                        lambda r: r.update(kind="injection")),
                                   "trace.json: "),
    "trace.json huge integer": (lambda g: (g / "trace.json").write_text(
        (g / "trace.json").read_text().replace('"epochs": 2', '"epochs": ' + "9" * 5000)),
                                "trace.json: file: not valid JSON (Exceeds the limit"),
    "trace.json of another seed": (lambda g: _edit_json(g / "trace.json",
                                                        lambda r: r["config"].update(seed=7)),
                                   "trace.json: config.seed: 7 differs from workload.json's "
                                   "123"),
    "trace.txt truncated": (lambda g: (g / "trace.txt").write_text(
        "\n".join((g / "trace.txt").read_text().splitlines()[:5])),
                            "trace.txt: file: 5 step and 0 epoch lines, trace.json has 20 and "
                            "2 (damaged)"),
    "trace.txt missing": (lambda g: (g / "trace.txt").unlink(),
                          "trace.txt: file: No such file or directory"),
    "workload.json missing": (lambda g: (g / "workload.json").unlink(),
                              "workload.json: golden: no golden run here"),
    "workload.json binary": (lambda g: (g / "workload.json").write_bytes(b"\xff\xfe{\x00"),
                             "workload.json: file: not UTF-8"),
    "workload.json huge": (lambda g: (g / "workload.json").write_bytes(b" " * (2**20 + 1)),
                           "workload.json: file: larger than 1048576 bytes"),
    "workload.json deep": (lambda g: (g / "workload.json").write_text("{\"a\":" * 50_000),
                           "workload.json: file: "),
    "workload.json string for int": (lambda g: _edit_json(
        g / "workload.json", lambda r: r["config"].update(epochs="2")),
                                     "workload.json: config.epochs: expected an integer"),
    "workload.json bool for int": (lambda g: _edit_json(
        g / "workload.json", lambda r: r["config"].update(replicas=True)),
                                   "workload.json: config.replicas: expected an integer"),
    "workload.json out of range": (lambda g: _edit_json(
        g / "workload.json", lambda r: r["config"].update(dropout=1.5)),
                                   "workload.json: dropout: must be in [0, 1)"),
    "workload.json unknown field": (lambda g: _edit_json(
        g / "workload.json", lambda r: r["config"].update(colour="red")),
                                    "workload.json: config.colour: not a workload field"),
    "workload.json unknown workload": (lambda g: _edit_json(
        g / "workload.json", lambda r: r.update(workload="x\ny")),
                                       "workload.json: workload: 'x\\ny' is not a known "
                                       "workload"),
    "workload.json another network": (lambda g: _edit_json(
        g / "workload.json", lambda r: r["config"].update(network="effnet")),
                                      "workload.json: config.network: 'effnet' is not workload "
                                      "resnet18_small's 'resnet18'"),
    "golden is a file": (lambda g: (shutil.rmtree(g), g.write_text("x")),
                         ": --golden: not a folder"),
}


@pytest.fixture
def damaged(golden, tmp_path) -> Callable[[str], Path]:
    def make(name: str) -> Path:
        copy = tmp_path / f"golden {len(list(tmp_path.iterdir()))}"
        shutil.copytree(golden, copy)
        DAMAGE[name][0](copy)
        return copy
    return make


@pytest.mark.parametrize("name", DAMAGE)
def test_a_damaged_golden_run_is_refused_in_one_line(damaged, tmp_path, name):
    copy = damaged(name)
    hit = injection.parse(write_csv(tmp_path / "x.csv"))
    with pytest.raises(BadInput) as refused:
        golden_folder.check_against_golden([hit], copy)
    line = str(refused.value)
    assert "\n" not in line and line.startswith(f"{copy}")
    assert line.startswith(f"{copy}/" + DAMAGE[name][1]) or line.startswith(
        f"{copy}" + DAMAGE[name][1]), line


def test_a_damaged_checkpoint_is_refused_before_tensorflow_and_nothing_is_written(
        damaged, tmp_path):
    copy = damaged("checkpoint byte flipped")
    csv = write_csv(tmp_path / "x.csv")
    out = tmp_path / "traces"
    result = run_main("inject", "--file", str(csv), "--golden", str(copy), "--out-dir", str(out))
    assert result.returncode == 2
    assert one_line(result.stderr).startswith(f"{copy / 'epoch_0'}: golden checkpoint: sha256 ")
    assert result.stdout == NO_TF_MARKER + "\n"
    assert not out.exists()


def test_a_checkpoint_of_another_model_is_refused(golden, tmp_path, capsys):
    """Hashes that match but a checkpoint of another shape (width 0.5): one line, nothing
    written (found when TensorFlow reads it, before any run)."""
    from fi_core.engine import data, train
    from fi_core.store import files

    copy = tmp_path / "golden"
    shutil.copytree(golden, copy)
    other = workloads.resolve("resnet18_small", {**SMALL, "width": "0.5"})
    shutil.rmtree(copy / "epoch_0")
    digest = train.Trainer(other, data.load(other)).save(copy / "epoch_0", 0, {})
    _edit_json(copy / "trace.json", lambda r: r["checkpoints"].update({"0": digest}))
    assert digest == files.hash_dir(copy / "epoch_0")
    out = tmp_path / "traces"
    code = cli.main(["inject", "--file", str(write_csv(tmp_path / "x.csv")), "--golden",
                     str(copy), "--out-dir", str(out)])
    assert code == 2
    line = one_line(capsys.readouterr().err)
    assert line.startswith(f"{copy / 'epoch_0'}: golden checkpoint: does not fit this "
                           "workload's model")
    assert files_under(out) == []


def test_each_checkpoint_is_hashed_once_per_process(golden, tmp_path):
    hits = [injection.parse(write_csv(tmp_path / f"{i}.csv", target_step=str(i)))
            for i in range(3)]
    golden_folder._hash.cache_clear()
    golden_folder.check_against_golden(hits, golden)
    golden_folder.check_against_golden(hits, golden)
    info = golden_folder._hash.cache_info()
    assert (info.misses, info.hits) == (1, 1)


# ---------------------------------------------------------------- hostile files, generated
@pytest.fixture(scope="module")
def scratch(golden, tmp_path_factory) -> Path:
    """The golden run's three files (no checkpoints: reading them needs none)."""
    folder = tmp_path_factory.mktemp("scratch") / "g"
    folder.mkdir()
    for name in ("workload.json", "trace.json", "trace.txt"):
        shutil.copy(golden / name, folder / name)
    return folder


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner,
                                                                max_size=4),
    max_leaves=20)


def _mutated(original: dict, data: st.DataObject) -> dict:
    """`original` with one value, at any depth, replaced by arbitrary JSON or removed."""
    record = json.loads(json.dumps(original))
    node = record
    while True:
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        if not keys:
            return record
        key = data.draw(st.sampled_from(keys))
        child = node[key]
        if isinstance(child, dict | list) and child and data.draw(st.booleans()):
            node = child
            continue
        if isinstance(node, dict) and data.draw(st.booleans()):
            del node[key]
        else:
            node[key] = data.draw(JSON)
        return record


def _opened_or_refused(folder: Path) -> None:
    golden_folder._open_golden.cache_clear()
    try:
        verified = golden_folder.open_golden(folder)
    except BadInput as refused:
        assert "\n" not in str(refused) and str(refused).startswith(str(folder))
    else:
        assert isinstance(verified.config, workloads.WorkloadConfig)
        assert "initial" in verified.checkpoints


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.data(), name=st.sampled_from(["workload.json", "trace.json"]))
def test_a_mutated_golden_record_opens_or_is_refused(golden, scratch, data, name):
    original = json.loads((golden / name).read_text())
    (scratch / name).write_text(json.dumps(_mutated(original, data)))
    try:
        _opened_or_refused(scratch)
    finally:
        shutil.copy(golden / name, scratch / name)


@settings(max_examples=100, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(content=st.binary(max_size=200) | JSON.map(lambda v: json.dumps(v).encode()),
       name=st.sampled_from(["workload.json", "trace.json", "trace.txt"]))
def test_any_golden_file_content_opens_or_is_refused(golden, scratch, content, name):
    (scratch / name).write_bytes(content)
    try:
        _opened_or_refused(scratch)
    finally:
        shutil.copy(golden / name, scratch / name)


# ---------------------------------------------------------------- inject's outputs
def test_inject_outputs_are_checked_before_any_work(golden, tmp_path, capsys):
    csv = write_csv(tmp_path / "x.csv")
    (tmp_path / "afile").write_text("keep\n")
    newline = write_csv(tmp_path / "two\nlines.csv")
    cases = [
        (["--file", str(csv), "--out-dir", str(tmp_path / "afile")],
         f"{tmp_path / 'afile'}: --out-dir: exists and is not a folder"),
        (["--file", str(csv), "--out-dir", str(golden / "traces")],
         f"{golden / 'traces'}: --out-dir: is inside the golden run {golden}"),
        (["--file", str(newline), "--out-dir", str(tmp_path / "t")],
         f"{tmp_path}/two\\nlines.csv: file: its name 'two\\nlines' names the trace"),
        (["--file", str(csv), "--out-dir", str(tmp_path / "seed_124")],
         f"{tmp_path / 'seed_124'}: --out-dir: holds a golden run: traces would change it"),
        (["--file", str(csv), "--file", str(csv), "--out-dir", str(tmp_path / "t")],
         f"{csv}: file: another CSV has the same name 'x'"),
    ]
    shutil.copy(csv, tmp_path / "x.json")
    (tmp_path / "seed_124").mkdir()
    shutil.copy(golden / "workload.json", tmp_path / "seed_124")
    cases.append((["--file", str(tmp_path / "x.json"), "--out-dir", str(tmp_path)],
                  f"{tmp_path / 'x.json'}: --out-dir: the trace would overwrite an input CSV"))
    before = files_under(tmp_path)
    for args, line in cases:
        assert cli.main(["inject", "--golden", str(golden), *args]) == 2
        assert one_line(capsys.readouterr().err).startswith(line)
    assert files_under(tmp_path) == before
    assert sorted(p.name for p in golden.iterdir()) == ["epoch_0", "epoch_1", "initial",
                                                         "trace.json", "trace.txt",
                                                         "workload.json"]


def test_sigterm_during_inject_leaves_complete_trace_pairs(golden, tmp_path):
    csvs = [write_csv(tmp_path / f"run_{i}.csv", target_step=str(i)) for i in range(4)]
    out = tmp_path / "traces"
    process = subprocess.Popen(
        [sys.executable, "-m", "fi_core", "inject", *(a for c in csvs for a in ("--file", str(c))),
         "--golden", str(golden), "--out-dir", str(out), "--no-early-exit"],
        stderr=subprocess.PIPE, text=True)
    for line in process.stderr:
        if line.startswith("[run_0] done"):
            process.send_signal(signal.SIGTERM)
            break
    rest = process.stderr.read()
    assert process.wait(timeout=300) == 143
    assert one_line(rest.split("\n", rest.count("\n") - 1)[-1]) == (
        "fi-core inject: interrupted (SIGTERM): the traces of finished CSVs are kept, the run in "
        "progress wrote nothing")
    names = files_under(out)
    stems = {Path(name).stem for name in names}
    assert "run_0" in stems and "run_3" not in stems
    assert names == sorted(f"{stem}.{ext}" for stem in stems for ext in ("json", "txt"))


def _rollback_csv(path: Path, step: int) -> Path:
    """A 1e17 gradient element at epoch 1: the `guard` preset detects it and rolls back."""
    return write_csv(path, stage="bkwd_inject", fmodel="INPUT",
                     target_layer="basicblock_1_basic_0_conv2_grad_in", target_step=str(step),
                     inj_pos="2/1/3/5", inj_values="1e17")


@pytest.mark.parametrize(("command", "trigger", "sig"), [
    ("inject", "rolled back", signal.SIGTERM),  # right after a rollback (snapshot restored)
    ("observe", "epoch 0: ", signal.SIGTERM),
], ids=["inject-rollback-SIGTERM", "observe-SIGTERM"])  # SIGINT: test_hostile_cli
def test_an_interrupt_of_a_mitigated_run_is_one_line_and_complete_pairs(golden, tmp_path,
                                                                        command, trigger, sig):
    out = tmp_path / "traces"
    if command == "inject":
        csvs = [_rollback_csv(tmp_path / f"run_{i}.csv", 2 + i) for i in range(3)]
        args = ["inject", *(a for c in csvs for a in ("--file", str(c))), "--golden",
                str(golden), "--out-dir", str(out), "--mitigation", "guard"]
    else:
        args = ["observe", "--golden", str(golden), "--mitigation", "guard", "--out-dir",
                str(out)]
    process = subprocess.Popen([sys.executable, "-m", "fi_core", *args],
                               stderr=subprocess.PIPE, text=True)
    for line in process.stderr:
        if trigger in line:
            process.send_signal(sig)
            break
    rest = process.stderr.read()
    assert process.wait(timeout=300) == cli.SIGNAL_STATUS[sig]
    assert "Traceback" not in rest and "Exception" not in rest
    last = rest.splitlines()[-1]
    assert last == f"fi-core {command}: interrupted ({sig.name}): {cli.LEFT_BEHIND[command]}"
    assert all(line.startswith("[") for line in rest.splitlines()[:-1])  # progress only
    names = files_under(out)
    stems = {Path(name).stem for name in names}
    assert names == sorted(f"{stem}.{ext}" for stem in stems for ext in ("json", "txt"))
    assert ("run_0" in stems) == (trigger == "[run_0] done") and "run_2" not in stems
