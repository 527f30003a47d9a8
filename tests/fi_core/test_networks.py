"""Networks declared once: the artifact's layer lists and CSVs, gradients equal to TensorFlow's
for every layer kind, the registry, and a new network added in one file (a plugin)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from fi_core import networks
from fi_core.engine import data, nn
from fi_core.engine import model as model_module
from fi_core.spec import architecture, injection, workloads

ROOT = Path(__file__).resolve().parents[2]
LAYERS = ROOT / "reference" / "artifact" / "layers"
ARTIFACT_CSVS = sorted((ROOT / "injections" / "artifact").glob("*/*.csv"))
PAPER_NETWORKS = ("resnet18", "effnet", "densenet", "nfnet")


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fi_core", *args], capture_output=True,
                          text=True, timeout=600, env=env)


@pytest.mark.parametrize("model", PAPER_NETWORKS)
def test_sites_command_prints_the_artifact_lists(model):
    for stage, suffix in (("fwrd_inject", "fwrd"), ("bkwd_inject", "bkwd")):
        result = run_cli("sites", "--workload", model, "--stage", stage)
        assert result.returncode == 0, result.stderr
        assert result.stdout == (LAYERS / f"{model}_{suffix}_layers.txt").read_text()


def test_site_counts_and_unlisted_sites():
    counts = {"resnet18": (20, 21), "effnet": (66, 67), "densenet": (120, 125),
              "nfnet": (28, 30)}
    for model, (listed, total) in counts.items():
        config = workloads.PRESETS[model]
        assert len(architecture.forward_layers(config)) == listed
        assert len(architecture.sites_of(config)) == total
        assert "fc" in architecture.forward_layers(config, artifact_only=False)


def test_every_artifact_csv_validates_against_its_paper_preset():
    result = run_cli("validate", *map(str, ARTIFACT_CSVS))
    assert len(ARTIFACT_CSVS) == 11
    assert (result.returncode, result.stderr) == (0, "")


def test_other_workloads_operand_shapes_match_the_artifact_table():
    """WORKLOADS.md, "The shipped CSVs"."""
    expected = {
        "effnet/inj_immediate_infs_nans.csv": (128, 1, 1, 60),
        "effnet/inj_slow_degrade.csv": (128, 16, 16, 16),
        "densenet/inj_immediate_infs_nans.csv": (128, 1, 1, 128),
        "densenet/inj_slow_degrade.csv": (128, 8, 8, 128),
    }
    for name, shape in expected.items():
        hit = injection.parse(ROOT / "injections" / "artifact" / name)
        assert hit.shape == shape
    densenet = architecture.site_by_name(workloads.PRESETS["densenet"])
    assert densenet["densenet_dense_block_4_bottleneck_9_conv1"].cin == 800


def test_the_registry_imports_every_network_module():
    modules = {p.stem for p in (ROOT / "fi_core" / "networks").glob("*.py")} - {"__init__"}
    assert set(PAPER_NETWORKS) <= set(networks.networks()) and modules <= set(networks.networks())
    for name, config in workloads.PRESETS.items():
        assert config.network in networks.networks(), name


def test_a_declaration_that_does_not_fit_is_refused():
    builder = architecture.ShapeBuilder()
    x = architecture.Shape.image(8, 3)
    with pytest.raises(ValueError, match="add of"):
        builder.add(builder.conv("a", x, 4, 3), x)
    with pytest.raises(ValueError, match="used twice"):
        builder.conv("a", x, 4, 3)


def _gradients(model, config, x, y, seed):
    ctx = nn.StepContext(True, nn.Replicas(config.replicas), seed=seed)
    with tf.GradientTape() as tape:
        logits = model(x, ctx)
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(y, logits))
    return tape.gradient(loss, model.trainable_variables)


@pytest.mark.parametrize("preset", ["effnet_small", "densenet_small", "nfnet_small"])
def test_gradients_without_a_fault_equal_tensorflow_native_gradients(preset, monkeypatch):
    """SE convs, 1x1/3x3/7x7 convs at stride 1 and 2, weight-standardised convs, depthwise
    5x5, concatenations, dense: the sites' own backward equals TensorFlow's."""
    config = workloads.resolve(preset, {"replicas": "2", "batch_per_replica": "4"})
    x, y = data.Batches(config, data.load(config)).batch(0, 0)
    seed = data.stream_seed(config, data.DROPOUT, 0, 0)
    ours = _gradients(model_module.build(config), config, x, y, seed)

    def plain_site(self, x, ctx):  # TensorFlow's own conv/matmul and its registered gradient
        w = self.kind.weight(self)
        out = (tf.matmul(x, w) if self.site.kind == "dense"
               else tf.nn.conv2d(x, w, self.site.stride, "SAME"))
        return out if self.bias is None else tf.nn.bias_add(out, self.bias)

    monkeypatch.setattr(nn.SiteLayer, "__call__", plain_site)
    theirs = _gradients(model_module.build(config), config, x, y, seed)
    assert len(ours) == len(theirs) > 40
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-7)


TINY = '''
"""A two-conv network and its preset: the whole of adding a workload."""
from fi_core.spec.builder import Builder, Tensor
from fi_core.networks import Network, register
from fi_core.spec.workloads import NUM_CLASSES, WorkloadConfig


def build(b: Builder, config: WorkloadConfig, x: Tensor) -> Tensor:
    h = b.relu(b.batch_norm("first_bn", b.conv("first", x, 8, 3, 2)))
    h = b.relu(b.conv("second", h, 16, 3, bias=True))
    return b.dense("fc", b.global_pool(h), NUM_CLASSES)


register(Network("tiny", build), {
    "tiny_small": WorkloadConfig(model="tiny", network="tiny", dataset="digits",
                                 image_size=8, replicas=2, batch_per_replica=64, epochs=2,
                                 decay_steps=50, dropout=0.0, test_batch=360, flip=False,
                                 crop_pad=0),
})
'''


def test_a_new_network_is_one_file(tmp_path):
    plugin = tmp_path / "plugins" / "tiny_network.py"
    plugin.parent.mkdir()
    plugin.write_text(textwrap.dedent(TINY))
    assert len(plugin.read_text().splitlines()) < 40
    env = {**os.environ, "FI_CORE_PLUGINS": "tiny_network",
           "PYTHONPATH": os.pathsep.join([str(plugin.parent), str(ROOT)])}
    sites = run_cli("sites", "--workload", "tiny_small", "--stage", "bkwd_inject", env=env)
    assert sites.stdout.split() == ["second_grad_in", "second_grad_wt", "first_grad_in",
                                    "first_grad_wt"]
    described = json.loads(run_cli("describe", "--json", env=env).stdout)
    assert described["workloads"]["tiny_small"]["dataset"] == "digits"
    golden = tmp_path / "golden"
    result = run_cli("golden", "--workload", "tiny_small", "--out", str(golden), env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    result = run_cli("generate", "--workload", "tiny_small", "--n", "2", "--seed", "7",
                     "--out", str(tmp_path / "csv"), env=env)
    assert result.returncode == 0, result.stderr
    csvs = sorted((tmp_path / "csv").glob("*.csv"))
    args = [a for path in csvs for a in ("--file", str(path))]
    result = run_cli("inject", *args, "--golden", str(golden), "--out-dir",
                     str(tmp_path / "traces"), env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    for path in csvs:
        record = json.loads((tmp_path / "traces" / f"{path.stem}.json").read_text())
        assert record["workload"] == "tiny_small"
        assert record["injection"]["layer"].split("_grad")[0] in {"first", "second"}


def test_an_artifact_csv_injection_step_replays_at_paper_size():
    """benchmarks/replay_artifact_steps.py on one CSV (every CSV: run the script by hand): the
    paper-size EfficientNet's injection step changes exactly the 16 elements it names."""
    csv = ROOT / "injections" / "artifact" / "effnet" / "inj_immediate_infs_nans.csv"
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "replay_artifact_steps.py"),
                             str(csv)], capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout + result.stderr[-2000:]
    assert result.stdout.startswith(
        "ok   effnet/inj_immediate_infs_nans.csv: block4_mbconv_0_se_expand_conv_grad_in output "
        "(128, 1, 1, 60): exactly its 16 element(s) changed, to its values")
