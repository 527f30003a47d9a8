"""Mitigation in real training (the micro workload): detectors quiet on the golden run and
firing on crafted states, the artifact's skip-update semantics, a rollback that continues bit
for bit as the golden run, `--mitigation none` byte-identical to no option, bad input."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import tensorflow as tf

from fi_core.commands import cli
from fi_core.engine import data, optim, train
from fi_core.mitigation import detectors, priming, probes
from fi_core.mitigation.detectors import Observation
from fi_core.mitigation.guard import Instruments
from fi_core.mitigation.presets import PRESETS, Preset
from fi_core.replay import runs
from fi_core.spec import injection, workloads
from fi_core.store import golden as golden_folder
from fi_core.store.golden import checkpoint_dir
from tests.fi_core.hostile import NO_TF_MARKER, one_line, run_main

CONFIG = workloads.resolve("resnet18_small", {"epochs": "3"})  # conftest's micro_golden


def write_csv(path: Path, **changes: str) -> Path:
    rows = {
        "model": ["resnet18"], "stage": ["bkwd_inject"], "fmodel": ["INPUT"],
        "target_worker": ["3"], "target_layer": ["basicblock_1_basic_0_conv2_grad_in"],
        "target_epoch": ["1"], "target_step": ["4"], "inj_pos": ["2/1/3/5"],
        "inj_values": ["1e17"], "learning_rate": ["0.001"], "seed": ["123"],
        "workload": ["resnet18_small"], "epochs": ["3"],
    }
    for key, value in changes.items():
        rows[key] = value.split(",")
    injection.write(path, rows)
    return path


def trainer_with(preset: str, golden: Path) -> train.Trainer:
    trainer = train.Trainer(CONFIG, data.load(CONFIG),
                            instruments=Instruments(PRESETS[preset], CONFIG.optimizer))
    trainer.restore(checkpoint_dir(golden, 0))
    return trainer


@pytest.fixture(scope="module")
def observed(micro_golden, tmp_path_factory) -> Path:
    """The golden run replayed with every detector of `guard` observing."""
    return runs.observe(micro_golden, priming.setting("guard", "observe"),
                        tmp_path_factory.mktemp("observe"))


@pytest.fixture(scope="module")
def plain(micro_golden) -> train.Trainer:
    """A trainer with the `guard` preset's probes (no gate: its update is the plain one)."""
    return trainer_with("guard", micro_golden)


def kernel_index(trainer: train.Trainer, site: str) -> int:
    kernel = trainer.model.sites[site].kernel
    return next(i for i, v in enumerate(trainer.variables) if v is kernel)


def test_detectors_are_quiet_on_the_golden_run_whose_training_the_replay_is(observed,
                                                                              micro_golden):
    record = json.loads(observed.read_text())
    mitigation = record["mitigation"]
    assert record["kind"] == "golden" and mitigation["mode"] == "observe"
    assert mitigation["golden"]["identical"] is True
    golden = json.loads((micro_golden / "trace.json").read_text())
    assert record["steps"] == golden["steps"] and record["epochs"] == golden["epochs"]
    assert mitigation["detectors"] == ["nonfinite", "adam_m_bound", "bn_stats", "loss_spike",
                                       "grad_norm"]
    assert mitigation["detections"] == [] and mitigation["totals"]["steps_trained"] == 30
    states = mitigation["states"]
    assert sorted(states) == ["0", "1", "2"]
    assert [states[e]["loss_spike"]["count"] for e in "012"] == [10, 20, 30]
    assert 0 < states["2"]["grad_norm"]["mean"] < 1e3
    text = observed.with_suffix(".txt").read_text().splitlines()
    assert text[0] == "Mitigation preset: guard, mode observe"
    assert not any(line.startswith("Mitigation: ") for line in text)


def test_each_detector_fires_on_a_crafted_state(plain, micro_golden):
    """Real probes after real steps (from the golden state after epoch 0): a first moment
    pushed above 20 or to NaN, a moving variance above 1e6, an infinite gradient; the running
    detectors on a spike after their warm-up; the SGD bound on a real SGD update."""
    built = {d.name: d for d in plain.instruments.detectors}
    names = {name: d.names(plain) for name, d in built.items()}
    quiet = plain.step(1, 0)
    for name, d in built.items():
        assert d.judge(Observation(loss=quiet.loss, probes=quiet.probes), {}, names[name]) is None

    index = kernel_index(plain, "basicblock_2_basic_1_conv1")
    moment = plain.optimizer.m[index]
    value = moment.numpy()
    value[0, 0, 0, 0] = 1000.0
    moment.assign(value)
    fired = plain.step(1, 1)
    finding = built["adam_m_bound"].judge(Observation(loss=fired.loss, probes=fired.probes), {},
                                          names["adam_m_bound"])
    assert finding is not None and 20.0 <= finding.value < 1000.0
    assert "basicblock_2_basic_1_conv1/kernel" in finding.reason
    value[0, 0, 0, 0] = math.nan
    moment.assign(value)
    nan = plain.step(1, 2)
    finding = built["adam_m_bound"].judge(Observation(loss=nan.loss, probes=nan.probes), {},
                                          names["adam_m_bound"])
    assert finding is not None and math.isnan(finding.value)  # reduce_max propagates NaN
    plain.restore(checkpoint_dir(micro_golden, 0))  # the NaN reached the kernel

    norm = plain.model.norms["basicblock_3_basic_0_conv1_bn"]
    variance = norm.moving_variance.numpy()
    variance[5, 2] = 1e8
    norm.moving_variance.assign(variance)
    bn = plain.step(1, 3)
    finding = built["bn_stats"].judge(Observation(loss=bn.loss, probes=bn.probes), {},
                                      names["bn_stats"])
    assert finding is not None and finding.value >= 0.9e8
    assert "basicblock_3_basic_0_conv1_bn" in finding.reason

    grads = [tf.zeros_like(v) for v in plain.variables]
    grads[index] = tf.fill(plain.variables[index].shape, math.inf)
    probes = {k: t.numpy() for k, t in plain.instruments.probe(
        train.StepTensors(tf.constant(1.0), grads, plain)).items()}
    judge = built["nonfinite"].judge
    assert judge(Observation(loss=1.0, probes=probes), {}, []).reason.startswith("gradients")
    assert judge(Observation(loss=math.nan, probes=probes), {}, []).value != 1.0
    assert judge(Observation(test_loss=math.inf), {}, []).reason == "test loss is inf"

    for name, base in (("loss_spike", quiet.loss),
                       ("grad_norm", math.sqrt(float(quiet.probes["grad_norm"])))):
        state: dict[str, float] = {}
        key = "grad_norm" if name == "grad_norm" else None
        seen = [Observation(loss=base * (1 + 0.01 * i),
                            probes={key: np.float32((base * (1 + 0.01 * i)) ** 2)} if key else {})
                for i in range(6)]
        assert all(built[name].judge(s, state, []) is None for s in seen)
        spike = 20.0 * base
        alarm = Observation(loss=spike, probes={key: np.float32(spike**2)} if key else {})
        finding = built[name].judge(alarm, state, [])
        assert finding is not None and finding.value > finding.threshold > base
        assert state["count"] == 6  # the spike is not folded into the running mean


def test_the_sgd_bound_reads_the_update_and_its_gate_skips_it():
    schedule = optim.PolynomialDecay(0.1, 1e-3, 2000)
    sgd = optim.SGD(schedule)
    variables = [tf.Variable([1.0, 2.0]), tf.Variable([3.0])]
    bound = detectors.build("sgd_update_bound", {"threshold": 2.0})
    grads = [tf.constant([0.5, -30.0]), tf.constant([1.0])]
    lr = np.float32(schedule(sgd.iterations).numpy())
    sgd.apply(grads, variables, gate=lambda i, update: bound.gate(update) if i == 0 else None)
    assert variables[0].numpy().tolist() == [1.0, 2.0]  # |0.1 x -30| = 3 >= 2: skipped
    assert variables[1].numpy().tolist() == [np.float32(3.0) - lr]
    fake = SimpleNamespace(optimizer=sgd)
    value = probes.update_max_abs(train.StepTensors(tf.constant(1.0), grads, fake),
                                  [0, 1]).numpy()
    assert value.tolist() == [np.float32(30.0) * lr, lr]
    finding = bound.judge(Observation(loss=1.0, probes={"sgd_update_bound": value}), {},
                          ["a", "b"])
    assert finding is not None and "a" in finding.reason


def test_skip_update_matches_the_artifact(plain, micro_golden):
    """`paper_skip` (the artifact's detection experiment): a watched kernel whose new first
    moment fails the bound keeps its value this step, while its m and v take their new values;
    every other variable updates exactly as without the gate."""
    skip = trainer_with("paper_skip", micro_golden)
    plain.restore(checkpoint_dir(micro_golden, 0))
    index = kernel_index(plain, "basicblock_1_basic_1_conv2")
    for trainer in (plain, skip):
        value = trainer.optimizer.m[index].numpy()
        value[1, 1, 2, 3] = 500.0
        trainer.optimizer.m[index].assign(value)
    before = skip.variables[index].numpy()
    a, b = plain.step(1, 0), skip.step(1, 0)
    assert a.loss == b.loss
    assert np.array_equal(skip.variables[index].numpy(), before)
    assert not np.array_equal(plain.variables[index].numpy(), before)
    for i, (va, vb) in enumerate(zip(plain.variables, skip.variables, strict=True)):
        assert np.array_equal(plain.optimizer.m[i].numpy(), skip.optimizer.m[i].numpy())
        assert np.array_equal(plain.optimizer.v[i].numpy(), skip.optimizer.v[i].numpy())
        if i != index:
            assert np.array_equal(va.numpy(), vb.numpy()), va.name
    probes = b.probes["adam_m_bound"]
    assert (probes >= 20.0).sum() == 1 and probes.max() == skip.optimizer.m[index].numpy().max()


def test_a_rollback_continues_bit_identical_to_the_golden_run(micro_golden, observed, tmp_path):
    """Two faults at epoch 1 step 4, replayed with `guard` primed by the observe run: a 1e17
    gradient element (the paper's bound fires) and a forward value of 3e38 (the loss is NaN).
    Each is rolled back to the snapshot of step 0 and re-executed without the fault: the state
    at the end of the epoch is the golden run's, bit for bit, so the run ends with the golden
    trace (early exit) and every step and epoch equals the golden run's."""
    moment = write_csv(tmp_path / "moment.csv")
    nan = write_csv(tmp_path / "nan.csv", stage="fwrd_inject", fmodel="RD",
                    target_layer="basicblock_2_basic_0_conv2", inj_pos="5/1/2/7",
                    inj_values="3.0e+38")
    setting = priming.setting("guard", "active", observed, micro_golden)
    assert setting.states_before(1) == json.loads(observed.read_text())["mitigation"]["states"]["0"]
    runs.inject([moment, nan], micro_golden, tmp_path / "out", mitigation=setting)
    golden = json.loads((micro_golden / "trace.json").read_text())
    golden_steps = [s for s in golden["steps"] if s["epoch"] >= 1]
    for name, detector in (("moment", "adam_m_bound"), ("nan", "nonfinite")):
        record = json.loads((tmp_path / "out" / f"{name}.json").read_text())
        assert record["rejoined_golden"] == {"epoch": 1}
        assert record["steps"] == golden_steps and record["epochs"] == golden["epochs"][1:]
        assert record["first_nonfinite"] is None
        found = record["mitigation"]["detections"]
        first = found[0]
        assert {d["detector"] for d in found if (d["epoch"], d["step"]) == (1, 4)} >= {detector}
        assert (first["epoch"], first["step"]) == (1, 4) and len({d["resume"]["step"]
                                                                  for d in found}) == 1
        assert first["action"] == "rollback" and first["resume"] == {"epoch": 1, "step": 0}
        assert first["steps_reexecuted"] == 5
        value = float(next(d["value"] for d in found if d["detector"] == detector))
        assert not math.isfinite(value) or value > 1e10
        assert record["mitigation"]["totals"]["steps_trained"] == 15
        lines = (tmp_path / "out" / f"{name}.txt").read_text().splitlines()
        at = next(i for i, line in enumerate(lines) if line.startswith("Mitigation: "))
        assert lines[at - 1].startswith("Epoch: 1/3, step: 4/10, ")  # the faulty step, logged
        assert lines[at].endswith("action rollback, resume at epoch 1 step 0")
        after = next(line for line in lines[at:] if not line.startswith("Mitigation: "))
        assert after.startswith("Epoch: 1/3, step: 0/10, ")
        from analysis.parse_text import parse_text

        parsed = parse_text(str(tmp_path / "out" / f"{name}.txt"))
        assert parsed.complete and parsed.mitigation == "guard"
        assert parsed.detections.rollbacks == 1 and parsed.detections.steps_reexecuted == 5
        assert parsed.curves.step_loss.tolist() == [round(s["loss"], 5) for s in golden_steps]


def test_mitigation_none_is_byte_identical_to_no_option(micro_golden, tmp_path):
    csv = write_csv(tmp_path / "late.csv", target_epoch="2", inj_values="80.0")
    outputs = []
    for extra in ([], ["--mitigation", "none"]):
        out = tmp_path / ("none" if extra else "plain")
        assert cli.main(["inject", "--file", str(csv), "--golden", str(micro_golden),
                         "--out-dir", str(out), *extra]) == 0
        record = json.loads((out / "late.json").read_text())
        record.pop("wall_time_s")
        outputs.append(((out / "late.txt").read_bytes(), record))
    assert outputs[0] == outputs[1]
    assert "mitigation" not in outputs[0][1]
    assert not any(line.startswith(b"Mitigation") for line in outputs[0][0].splitlines())


def test_bad_mitigation_input_is_one_line_and_exit_2(micro_golden, observed, tmp_path, capsys):
    csv = write_csv(tmp_path / "x.csv")
    out = tmp_path / "out"
    binary = tmp_path / "binary.json"
    binary.write_bytes(b"\xff\xfe{")
    nested = tmp_path / "nested.json"
    nested.write_text("[" * 100_000 + "]" * 100_000)
    other_golden = tmp_path / "other.json"
    record = json.loads(observed.read_text())
    record["mitigation"]["golden"]["sha256"] = "0" * 64
    other_golden.write_text(json.dumps(record))
    base = ["inject", "--file", str(csv), "--golden", str(micro_golden), "--out-dir", str(out)]
    cases = [
        ([*base, "--mitigation", "bogus"], "--mitigation: bogus: unknown preset (known: none, "),
        ([*base, "--mitigation", "paper", "--observed", str(observed)],
         f"{observed}: mitigation.spec: observed with another preset than 'paper'"),
        ([*base, "--mitigation", "guard", "--observed", str(micro_golden / "trace.json")],
         f"{micro_golden / 'trace.json'}: mitigation: not an observe run"),
        ([*base, "--observed", str(observed)], f"--observed: {observed}: given without"),
        (["observe", "--golden", str(micro_golden), "--mitigation", "magic", "--out-dir",
          str(out)], "--mitigation: magic: unknown preset"),
        ([*base, "--mitigation", "guard", "--observed", str(binary)],
         f"{binary}: file: not UTF-8"),
        ([*base, "--mitigation", "guard", "--observed", str(nested)],
         f"{nested}: file: JSON nested too deeply"),
        ([*base, "--mitigation", "guard", "--observed", str(tmp_path)],
         f"{tmp_path}: file: not a regular file"),
        ([*base, "--mitigation", "guard", "--observed", str(other_golden)],
         f"{other_golden}: mitigation.golden.sha256: observed another golden run"),
        (["observe", "--golden", str(micro_golden), "--mitigation", "guard", "--out-dir",
          str(micro_golden / "inside")], f"{micro_golden / 'inside'}: --out-dir: is inside"),
        (["observe", "--golden", str(tmp_path / "nothing"), "--mitigation", "guard",
          "--out-dir", str(out)], f"{tmp_path / 'nothing'}: --golden: No such"),
    ]
    for argv, expected in cases:
        assert cli.main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith(expected), err
    assert not out.exists()
    assert not (micro_golden / "inside").exists()


@pytest.fixture
def always_fires():
    """A detector that fires after every training step (what a tampered running mean did),
    counting the steps it saw: more than `BUDGET` is a rollback loop (the test fails instead of
    training forever)."""
    seen = []

    def factory() -> detectors.Detector:
        def judge(observation, state, names):
            if observation.is_evaluation:
                return None
            seen.append(1)
            assert len(seen) <= BUDGET, "a rollback loop"
            return detectors.Finding("always_fires", observation.loss, 0.0, "fires every step")

        return detectors.Detector("always_fires", {}, judge)

    factory.__name__ = "always_fires"
    detectors.register(factory)
    yield seen
    del detectors.DETECTORS["always_fires"]


BUDGET = 60


def test_a_detector_firing_on_every_step_ends_unrecovered_and_training_goes_on(
        micro_golden, always_fires, tmp_path):
    """Real training (the last epoch of the micro workload, 10 steps), a detector firing after
    every step, rollback snapshots every 2 steps, depth 3: at most 3 rollbacks, each to a
    snapshot not restored before, then every detection is `unrecovered` and the run finishes
    its epoch with a complete trace."""
    preset = Preset("always", "test", detectors=(("always_fires", {}),), recovery="rollback",
                    every=2, depth=3, lag=1)
    csv = write_csv(tmp_path / "late.csv", target_epoch="2", inj_values="80.0")
    [path] = runs.inject([csv], micro_golden, tmp_path / "out",
                         mitigation=priming.Setting(preset))
    record = json.loads(path.read_text())
    found = record["mitigation"]["detections"]
    actions = [d["action"] for d in found]
    rollbacks = actions.count("rollback")
    assert 1 <= rollbacks <= preset.depth and set(actions[rollbacks:]) == {"unrecovered"}
    resumes = [(d["resume"]["epoch"], d["resume"]["step"]) for d in found[:rollbacks]]
    assert len(set(resumes)) == rollbacks
    assert [(s["epoch"], s["step"]) for s in record["steps"]] == [(2, s) for s in range(10)]
    assert record["complete"] and [e["epoch"] for e in record["epochs"]] == [2]
    assert record["mitigation"]["totals"]["steps_trained"] == len(always_fires) <= 10 + 6


# ---------------------------------------------------------------- tampered observe records
def _tampered(observed: Path, out: Path, edit, raw: str | None = None) -> Path:
    """The observe record with `edit(record)` applied; `raw` replaces the string "@RAW@" by
    text json.dumps cannot write (1e400, a 4,000-digit integer)."""
    record = json.loads(observed.read_text())
    edit(record)
    text = json.dumps(record)
    if raw is not None:
        assert text.count('"@RAW@"') == 1
        text = text.replace('"@RAW@"', raw)
    out.write_text(text)
    return out


def _state(key: str, value):
    def edit(record):
        record["mitigation"]["states"]["0"]["loss_spike"][key] = value
    return edit


STATE = "mitigation.states.0.loss_spike"
TAMPERED = {
    "count 1e400": (_state("count", "@RAW@"), "1e400",
                    f"{STATE}.count: 1e400 is not a finite number (beyond float64)"),
    "mean of 4000 digits": (_state("mean", "@RAW@"), "9" * 4000,
                            f"{STATE}.mean: {'9' * 24}... (4000 characters) is not a finite "
                            "number (an integer beyond int64)"),
    "mean +1e400": (_state("mean", "@RAW@"), "+1e400", None),  # not JSON: a leading +
    "mean 1e400": (_state("mean", "@RAW@"), "1e400",
                   f"{STATE}.mean: 1e400 is not a finite number (beyond float64)"),
    "mean -1e400": (_state("mean", "@RAW@"), "-1e400",
                    f"{STATE}.mean: -1e400 is not a finite number (beyond float64)"),
    "mean negative": (_state("mean", -1.0), None,
                      f"{STATE}.mean: -1.0 is outside [0.0, 3.4028234663852886e+38]"),
    "mean beyond fp32": (_state("mean", 1e300), None,
                         f"{STATE}.mean: 1e+300 is outside [0.0, 3.4028234663852886e+38]"),
    "count not whole": (_state("count", 2.5), None,
                        f"{STATE}.count: 2.5 is not a whole number (a count)"),
    "count a string": (_state("count", "10"), None, f"{STATE}.count: expected a number, got str"),
    "count a boolean": (_state("count", True), None,
                        f"{STATE}.count: expected a number, got bool"),
    "unknown entry": (_state("median", 1.0), None,
                      f"{STATE}.median: not an entry of this detector's state"),
    "unknown detector": (lambda r: r["mitigation"]["states"]["0"].update(magic={}), None,
                         "mitigation.states.0.magic: not a detector of the preset"),
    "state not an object": (lambda r: r["mitigation"]["states"]["0"].update(loss_spike=[1]),
                            None, f"{STATE}: not a detector's state (an object)"),
    "a step's loss 1e400": (lambda r: r["steps"][3].update(loss="@RAW@"), "1e400",
                            "steps[3].loss: 1e400 is not a finite number (beyond float64)"),
    "wall time of 30 digits": (lambda r: r.update(wall_time_s="@RAW@"), "1" + "0" * 29,
                               "wall_time_s: 100000000000000000000000000000 is not a finite "
                               "number (an integer beyond int64)"),
    "epoch key not an epoch": (lambda r: r["mitigation"]["states"].update({"x": {}}), None,
                               "mitigation.states: "),
}


@pytest.mark.parametrize(("edit", "raw", "line"), TAMPERED.values(), ids=TAMPERED.keys())
def test_every_number_of_an_observe_record_is_read_strictly_before_tensorflow(
        micro_golden, observed, tmp_path, edit, raw, line):
    """A tampered observe record is one line naming the field, exit 2, before TensorFlow
    starts (they ended with an OverflowError after TensorFlow started, or silently switched a
    detector off: a mean of 1e400 is an infinite threshold)."""
    record = _tampered(observed, tmp_path / "observed.json", edit, raw)
    csv = write_csv(tmp_path / "x.csv")
    result = run_main("inject", "--file", str(csv), "--golden", str(micro_golden), "--out-dir",
                      str(tmp_path / "out"), "--mitigation", "guard", "--observed", str(record))
    assert result.returncode == 2, result.stderr
    expected = f"{record}: {line}" if line is not None else f"{record}: file: not valid JSON"
    assert one_line(result.stderr).startswith(expected)
    assert result.stdout == NO_TF_MARKER + "\n"
    assert not (tmp_path / "out").exists()


def test_an_observe_record_primes_only_the_golden_run_it_observed(micro_golden, observed,
                                                                   tmp_path, capsys):
    """A second golden run of the same seed has the same checkpoints, bit for bit, and so the
    same initial checkpoint hash the record named; its trace differs (its wall time, at
    least). Modelled by a copy of the golden folder whose trace.json says another wall time:
    the record is refused for it, and accepted for a plain copy (the same run, moved)."""
    rerun, moved = tmp_path / "rerun", tmp_path / "moved"
    shutil.copytree(micro_golden, rerun)
    shutil.copytree(micro_golden, moved)
    trace = json.loads((rerun / "trace.json").read_text())
    trace["wall_time_s"] += 1.0
    (rerun / "trace.json").write_text(json.dumps(trace, indent=1) + "\n")
    assert golden_folder.open_golden(rerun).checkpoints == golden_folder.open_golden(
        micro_golden).checkpoints
    csv = write_csv(tmp_path / "x.csv")
    base = ["inject", "--file", str(csv), "--out-dir", str(tmp_path / "out"), "--mitigation",
            "guard", "--observed", str(observed)]
    assert cli.main([*base, "--golden", str(rerun)]) == 2
    assert one_line(capsys.readouterr().err) == (
        f"{observed}: mitigation.golden.trace_sha256: observed another golden run than {rerun} "
        "(its trace.json has another sha256)")
    assert priming.setting("guard", "active", observed, moved).states == json.loads(
        observed.read_text())["mitigation"]["states"]
    old = _tampered(observed, tmp_path / "old.json",
                    lambda r: r["mitigation"]["golden"].pop("trace_sha256"))
    assert cli.main([*base[:-1], str(old), "--golden", str(micro_golden)]) == 2
    assert one_line(capsys.readouterr().err) == (
        f"{old}: mitigation.golden.trace_sha256: missing: the record does not name the golden "
        "run it observed (written by an older fi-core): observe again")
    assert not (tmp_path / "out").exists()
