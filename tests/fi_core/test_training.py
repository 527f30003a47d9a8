"""Real training on the embedded digits: gradients, golden runs, replay, determinism, divergence
as a result, bad input that writes nothing. One small golden run is shared by the module."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

import fi_formats
from fi_core.engine import data, nn, train
from fi_core.replay import runs
from fi_core.spec import injection, workloads
from fi_core.store import files
from fi_core.store import golden as golden_run

MICRO = {"epochs": "3"}


def micro_config() -> workloads.WorkloadConfig:
    return workloads.resolve("resnet18_small", MICRO)


@pytest.fixture(scope="module")
def golden(micro_golden) -> Path:
    return micro_golden  # conftest.py: shared with the mitigation tests


def write_csv(path: Path, **changes: str) -> Path:
    rows = {
        "model": ["resnet18"], "stage": ["fwrd_inject"], "fmodel": ["RD"],
        "target_worker": ["3"], "target_layer": ["basicblock_2_basic_0_conv2"],
        "target_epoch": ["1"], "target_step": ["4"], "inj_pos": ["5/1/2/7"],
        "inj_values": ["3.0e+38"], "learning_rate": ["0.001"], "seed": ["123"],
        "workload": ["resnet18_small"], "epochs": ["3"],
    }
    for key, value in changes.items():
        rows[key] = value.split(",")
    injection.write(path, rows)
    return path


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fi_core", *args], capture_output=True,
                          text=True, timeout=600)


def test_gradients_without_a_fault_equal_tensorflow_native_gradients(monkeypatch):
    config = micro_config()
    dataset = data.load(config)
    x, y = data.Batches(config, dataset).batch(0, 0)
    seed = data.stream_seed(config, data.DROPOUT, 0, 0)

    def gradients(model):
        ctx = nn.StepContext(True, nn.Replicas(config.replicas), seed=seed)
        with tf.GradientTape() as tape:
            logits = model(x, ctx)
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(y, logits))
        return tape.gradient(loss, model.trainable_variables)

    from fi_core.engine import model as model_module

    ours = gradients(model_module.build(config))

    def plain_site(self, x, ctx):  # TensorFlow's own conv/matmul and its registered gradient
        out = (tf.matmul(x, self.kernel) if self.site.kind == "dense"
               else tf.nn.conv2d(x, self.kernel, self.site.stride, "SAME"))
        return out if self.bias is None else tf.nn.bias_add(out, self.bias)

    monkeypatch.setattr(nn.SiteLayer, "__call__", plain_site)
    theirs = gradients(model_module.build(config))
    assert len(ours) == len(theirs) > 40
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6, atol=1e-9)


def test_golden_run_writes_checkpoints_and_traces(golden):
    config = micro_config()
    record = json.loads((golden / "trace.json").read_text())
    assert fi_formats.trace_problems(record) == []  # the format declared in fi_formats
    assert record["kind"] == "golden" and record["complete"]
    assert [e["epoch"] for e in record["epochs"]] == [0, 1, 2]
    assert len(record["steps"]) == 3 * config.steps_per_epoch
    for epoch in ("initial", "0", "1", "2"):
        folder = golden / ("initial" if epoch == "initial" else f"epoch_{epoch}")
        assert record["checkpoints"][epoch] == files.hash_dir(folder)
    lines = (golden / "trace.txt").read_text().splitlines()
    assert lines[0] == (f"Epoch: 0/3, step: 0/{config.steps_per_epoch}, "
                        f"loss: {record['steps'][0]['loss']:.5f}, "
                        f"accuracy: {record['steps'][0]['accuracy']:.5f}")
    assert lines[-1].startswith("End of epoch: 2/3, train loss: ")
    assert record["epochs"][-1]["train_accuracy"] > record["epochs"][0]["train_accuracy"]
    # Every replica's moving statistics are in the checkpoint, each from its own batches.
    reader = tf.train.load_checkpoint(str(golden / "epoch_2" / train.CHECKPOINT_PREFIX))
    key = next(k for k in reader.get_variable_to_shape_map() if "moving_variance" in k)
    copies = reader.get_tensor(key)
    assert copies.shape[0] == config.replicas
    assert len({row.tobytes() for row in copies}) == config.replicas


def test_fault_free_resume_reproduces_the_golden_epoch_exactly(golden):
    config = micro_config()
    record = json.loads((golden / "trace.json").read_text())
    trainer = train.Trainer(config, data.load(config))
    trainer.restore(golden / "epoch_0")
    losses = [trainer.step(1, step).loss for step in range(config.steps_per_epoch)]
    expected = [s["loss"] for s in record["steps"] if s["epoch"] == 1]
    assert losses == expected  # bit-identical, not merely close
    test_loss, test_accuracy = trainer.evaluate()
    assert (test_loss, test_accuracy) == (record["epochs"][1]["test_loss"],
                                          record["epochs"][1]["test_accuracy"])


def test_same_csv_gives_a_bit_identical_trace_eager_or_traced(golden, tmp_path):
    """The once-per-CSV injection step runs eagerly by default; traced, as the fault-free
    step is, it gives the same traces byte for byte (and the same JSON but the wall time).
    Both CSVs are backward faults, so that the traced path costs one trace only."""
    csv = write_csv(tmp_path / "bitflip.csv", fmodel="RBFLIP", stage="bkwd_inject",
                    target_layer="basicblock_3_basic_0_conv1_grad_in", inj_pos="2/1/3/5")
    rows = injection.read_rows(csv)
    rows.pop("inj_values")
    rows["inj_bits"] = ["29"]
    injection.write(csv, rows)
    weight = write_csv(tmp_path / "weight.csv", stage="bkwd_inject", fmodel="WT",
                       target_step="7", target_layer="basicblock_3_basic_1_conv1_grad_in",
                       inj_pos="1/2/7/30", inj_values="80.0")
    runs.inject([csv, weight], golden, tmp_path / "a", injection_step="eager")
    runs.inject([csv, weight], golden, tmp_path / "b", injection_step="traced")
    for name in ("bitflip", "weight"):
        text_a, text_b = (tmp_path / d / f"{name}.txt" for d in "ab")
        assert text_a.read_bytes() == text_b.read_bytes()
        ja, jb = (json.loads((tmp_path / d / f"{name}.json").read_text()) for d in "ab")
        ja.pop("wall_time_s")
        jb.pop("wall_time_s")
        assert ja == jb
    weight_record = json.loads((tmp_path / "a" / "weight.json").read_text())
    assert weight_record["injection"]["injected_values"] == [80.0]
    assert weight_record["rejoined_golden"] is None
    golden_record = json.loads((golden / "trace.json").read_text())
    assert weight_record["epochs"] != golden_record["epochs"][1:]  # the fault did something
    text_a = tmp_path / "a" / "bitflip.txt"
    ja = json.loads((tmp_path / "a" / "bitflip.json").read_text())
    # The steps before the injection are the golden steps, line for line.
    golden_lines = (golden / "trace.txt").read_text().splitlines()
    lines = text_a.read_text().splitlines()
    assert lines[:3] == ["Inject to epoch: 1", "Inject to step: 4",
                         f"Load weights from {golden / 'epoch_0'}"]
    first = golden_lines.index(lines[3])
    assert lines[3:7] == golden_lines[first:first + 4]
    # A backward fault cannot change the loss of its own step.
    assert lines[7:10] == ["Inject worker: 3", "Inject layer: basicblock_3_basic_0_conv1_grad_in",
                           "Shape for target layer is (18, 4, 4, 32)"]
    assert lines[11] == golden_lines[first + 4]
    assert ja["injection"]["value_kind"] == "bitflip"
    golden_value = np.float32(ja["injection"]["golden_values"][0])
    flipped = np.array([golden_value]).view(np.uint32) ^ np.uint32(1 << 29)
    assert np.float32(ja["injection"]["injected_values"][0]) == flipped.view(np.float32)[0]


def test_divergence_is_a_result_not_an_error(golden, tmp_path):
    csv = write_csv(tmp_path / "boom.csv")
    result = run_cli("inject", "--file", str(csv), "--golden", str(golden), "--out-dir",
                     str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    lines = (tmp_path / "out" / "boom.txt").read_text().splitlines()
    assert lines[-1] == "Encounter NaN! Terminate training!"
    assert lines[-2].startswith("Epoch: 1/3, step: 4/10, loss: nan")
    assert lines[-3] == ("Position is (5, 1, 2, 7), Golden data is "
                         f"{lines[-3].split('Golden data is ')[1].split(',')[0]}, "
                         "inject data is 3e+38")
    record = json.loads((tmp_path / "out" / "boom.json").read_text())
    assert fi_formats.trace_problems(record) == []
    assert record["first_nonfinite"] == {"epoch": 1, "step": 4, "metric": "train_loss"}
    assert record["steps"][-1]["loss"] == "NaN"
    assert record["golden_checkpoint"]["sha256"] == files.hash_dir(golden / "epoch_0")
    assert record["csv"]["inj_values"] == "3.0e+38"
    # A job's log (no terminal): plain lines of its own, no bar, no TensorFlow start-up notices.
    assert "\r" not in result.stderr
    log = result.stderr.splitlines()
    assert log[0] == "[boom] non-finite loss at epoch 1 step 4: stopped"
    assert log[1].startswith("[boom] done (non-finite): 1/1 CSVs, elapsed ")
    assert len(log) == 2


def test_a_nonfinite_test_loss_stops_the_run(golden, tmp_path):
    """The issue's case: a forward value of 1e20 overflows one replica's batch variance; the
    losses stay finite, its moving variance becomes inf then NaN, and the test loss is NaN at
    the end of the epoch: the run stops there with the artifact's lines."""
    csv = write_csv(tmp_path / "rd20.csv", target_layer="basicblock_1_basic_0_conv1",
                    inj_pos="5/1/2/7", inj_values="1e20")
    runs.inject([csv], golden, tmp_path / "out")
    lines = (tmp_path / "out" / "rd20.txt").read_text().splitlines()
    assert lines[-1] == "Encounter NaN! Terminate training!"
    assert lines[-2].startswith("End of epoch: 1/3, train loss: ")
    assert ", valid loss: nan, valid accuracy: " in lines[-2]
    record = json.loads((tmp_path / "out" / "rd20.json").read_text())
    assert fi_formats.trace_problems(record) == []
    assert record["first_nonfinite"] == {"epoch": 1, "step": 9, "metric": "test_loss"}
    assert [e["epoch"] for e in record["epochs"]] == [1]
    assert record["epochs"][0]["test_loss"] == "NaN"
    assert all(isinstance(s["loss"], float) for s in record["steps"])  # every step finite
    assert len(record["steps"]) == 10


def test_a_run_back_in_the_golden_state_ends_with_the_golden_trace(golden, tmp_path,
                                                                     monkeypatch):
    """A fault that writes what was there (a zero on an inserted zero of a stride-2 gradient;
    a value copied from its own position) leaves the state bit-identical to the golden run's:
    the run stops after the injection epoch and its trace is the full run's."""
    zero = write_csv(tmp_path / "zero.csv", stage="bkwd_inject", fmodel="INPUT",
                     target_layer="basicblock_2_basic_0_conv1_grad_in", inj_pos="4/3/3/9",
                     inj_values="0.0")
    same = write_csv(tmp_path / "same.csv", fmodel="RD_CORRECT")
    rows = injection.read_rows(same)
    rows.pop("inj_values")
    rows["inj_src_pos"] = rows["inj_pos"]
    injection.write(same, rows)
    trained = []
    original = train.Trainer.step

    def counting(self, epoch, step, hit=None):
        trained.append((epoch, step))
        return original(self, epoch, step, hit)

    monkeypatch.setattr(train.Trainer, "step", counting)
    runs.inject([zero, same], golden, tmp_path / "exit")
    assert len(trained) == 2 * micro_config().steps_per_epoch  # epoch 1 only, per CSV
    runs.inject([zero, same], golden, tmp_path / "full", early_exit="off")
    for name in ("zero", "same"):
        early, full = (tmp_path / d / f"{name}.txt" for d in ("exit", "full"))
        assert early.read_bytes() == full.read_bytes()
        a, b = (json.loads((tmp_path / d / f"{name}.json").read_text()) for d in ("exit", "full"))
        assert fi_formats.trace_problems(a) == fi_formats.trace_problems(b) == []
        assert a.pop("rejoined_golden") == {"epoch": 1} and b.pop("rejoined_golden") is None
        assert a["injection"]["golden_values"] == a["injection"]["injected_values"]
        a.pop("wall_time_s")
        b.pop("wall_time_s")
        assert a == b
    golden_lines = (golden / "trace.txt").read_text().splitlines()
    assert full.read_text().splitlines()[-11:] == golden_lines[-11:]  # epoch 2: the golden's


def test_each_replica_evaluates_its_share_with_its_own_moving_statistics():
    """Test batches of 100 over 8 replicas: shares of 13 (replicas 0-3) and 12 (4-7), the last
    batch of 60 shares of 8 and 7. Shifting replica 5's moving means changes the test losses of
    its shares and no other."""
    config = workloads.resolve("resnet18_small", {"epochs": "3", "test_batch": "100"})
    trainer = train.Trainer(config, data.load(config))
    before, _ = trainer.evaluate_examples()
    for module in trainer.model.submodules:
        if isinstance(module, nn.BatchNorm):
            assert module.moving_mean.shape == (8, module.gamma.shape[0])
            rows = module.moving_mean.numpy()
            rows[5] += 3.0
            module.moving_mean.assign(rows)
    after, _ = trainer.evaluate_examples()
    share = np.zeros(360, bool)
    for start in range(0, 360, 100):
        layout = data.ReplicaShares(min(100, 360 - start), 8)
        first = start + sum(layout.sizes[:5])
        share[first:first + layout.sizes[5]] = True
    assert share.sum() == 3 * 12 + 7
    assert np.array_equal(before[~share], after[~share])
    assert np.all(before[share] != after[share])


def test_bad_input_exits_2_and_writes_nothing(golden, tmp_path):
    good = write_csv(tmp_path / "good.csv")
    bad = write_csv(tmp_path / "bad.csv", inj_pos="5/1/2/700")
    out = tmp_path / "out"
    result = run_cli("inject", "--file", str(good), "--file", str(bad), "--golden",
                     str(golden), "--out-dir", str(out))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith(f"{bad}: inj_pos: ")
    assert not out.exists() or not any(out.iterdir())

    late = write_csv(tmp_path / "late.csv", target_epoch="2")
    hollow = tmp_path / "hollow"
    hollow.mkdir()
    (hollow / golden_run.WORKLOAD_FILE).write_text((golden / golden_run.WORKLOAD_FILE).read_text())
    result = run_cli("inject", "--file", str(late), "--golden", str(hollow), "--out-dir",
                     str(out))
    assert result.returncode == 2  # a golden folder without its trace did not finish
    assert result.stderr.strip() == (f"{hollow / 'trace.json'}: golden: no complete golden run "
                                     "here (trace.json missing: the run did not finish)")

    other = write_csv(tmp_path / "other.csv", width="0.5")
    result = run_cli("inject", "--file", str(other), "--golden", str(golden), "--out-dir",
                     str(out))
    assert result.returncode == 2
    assert result.stderr.strip().startswith(f"{other}: width: 0.5 differs from the golden run's")
    assert not out.exists() or not any(out.iterdir())


def test_paper_size_resnet18_immediate_nan_from_any_state():
    """The artifact's immediate-NaN CSV, one step on the paper-size model from its initial
    state and random data: the loss of that very step is not finite."""
    path = (Path(__file__).resolve().parents[2] / "injections" / "artifact" / "resnet18"
            / "inj_immediate_infs_nans.csv")
    hit = injection.parse(path)
    config = hit.config
    rng = np.random.default_rng(0)
    batch = config.global_batch
    x = tf.constant(rng.standard_normal((batch, 32, 32, 3)), tf.float32)
    y = tf.constant(rng.integers(0, 10, batch), tf.int32)
    trainer = train.Trainer(config, data.Dataset(x, y, x, y))
    step = trainer._compiled(hit.pass_)
    seed = data.stream_seed(config, data.DROPOUT, hit.epoch, hit.step)
    loss, _, (golden_value, injected, _summary), _probes = step(
        x, y, seed, *train.fault_args(hit, config))
    assert not np.isfinite(float(loss))
    assert float(injected[0]) == np.float32(2.86871514043344e24)
    assert np.isfinite(float(golden_value[0]))


def test_auto_traces_the_injection_step_of_a_pass_only_when_it_pays():
    many, few = ["fwrd"] * train.TRACE_AT, ["grad_in"] * (train.TRACE_AT - 1)
    assert train.injection_steps("auto", many + few) == {"fwrd"}
    assert train.injection_steps("traced", few) == {"grad_in"}
    assert train.injection_steps("eager", many) == frozenset()
    with pytest.raises(ValueError):
        train.injection_steps("sometimes", many)
