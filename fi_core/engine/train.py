"""The training loop's building blocks: one step (plain or with one fault), evaluation,
checkpoints. Replicas are either emulated inside one program (the batch carries R replica slices,
each with its own batch-norm statistics) or real, under a tf.distribute strategy
(MirroredStrategy on several GPUs, TPUStrategy on a TPU); the model code is the same.
"""

from __future__ import annotations

import contextlib
import json
import shutil
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import tensorflow as tf

from fi_core.engine import data, fault_ops, model, nn, optim, tf_setup
from fi_core.engine.fault_ops import FaultPlan, Replicas
from fi_core.faults import rules
from fi_core.spec import architecture
from fi_core.spec.errors import BadInput
from fi_core.spec.injection import Injection
from fi_core.spec.workloads import WorkloadConfig
from fi_core.store import files
from fi_core.tasks import task_of

CHECKPOINT_PREFIX = "ckpt"
META = "meta.json"
INJECTION_STEPS = ("eager", "traced", "auto")
"""How the once-per-CSV injection step runs: eagerly (no tracing: measured to give the same
trace byte for byte), traced like the fault-free step (one graph per pass, reused by every CSV
of the process), or `auto`: traced for a pass with at least TRACE_AT CSVs in the process."""
TRACE_AT = 40
"""CSVs of one pass from which tracing its injection step pays (small workload, one thread,
CPU time: tracing a pass costs 11.2 s, an eager injection step 0.31 s against 0.05 s traced)."""


def injection_steps(mode: str, passes: Sequence[str]) -> frozenset[str]:
    """The passes whose injection step is traced, for `mode` and the passes of a batch's CSVs."""
    if mode not in INJECTION_STEPS:
        raise ValueError(f"injection_step {mode!r} is not one of {INJECTION_STEPS}")
    if mode == "traced":
        return frozenset(passes)
    if mode == "eager":
        return frozenset()
    return frozenset(p for p, n in Counter(passes).items() if n >= TRACE_AT)


@dataclass
class StepResult:
    loss: float
    accuracy: float
    golden: np.ndarray | None = None
    injected: np.ndarray | None = None
    summary: np.ndarray | None = None  # min, max, mean, max_abs of golden, then of injected
    probes: dict[str, np.ndarray] = field(default_factory=dict)  # the instruments' scalars


@dataclass(frozen=True)
class StepTensors:
    """What a step shows its instruments, inside the compiled step, after the update."""

    loss: tf.Tensor  # the loss of this replica's share (emulated replicas: of the global batch)
    grads: list[tf.Tensor]  # all-reduced, in the order of `Trainer.variables`
    trainer: Trainer


class Instruments(Protocol):
    """A mitigation's part inside the compiled step (`fi_core.mitigation`): a few scalars it
    measures after the update, and optionally a per-variable gate on the update itself. Without
    instruments the step is exactly the plain one."""

    gate: optim.Gate | None

    def bind(self, trainer: Trainer) -> None: ...

    def probe(self, tensors: StepTensors) -> dict[str, tf.Tensor]: ...


def fault_args(hit: Injection, config: WorkloadConfig) -> fault_ops.FaultTensors:
    """The run-time tensors of a fault (a tuple: the traced step takes them as `*args`)."""
    layer = [site.name for site in architecture.sites_of(config)].index(hit.site.name)
    return fault_ops.fault_tensors(
        layer=layer, operand=architecture.OPERANDS.index(hit.operand), replica=hit.replica,
        rule=rules.index_of(hit.value_kind), indices=hit.flat,
        span=hit.span or fault_ops.NO_RUN,
        # never empty: a branch of another rule may index them where shapes are static (XLA)
        floats=hit.floats if len(hit.floats) else [0.0],
        ints=hit.ints if len(hit.ints) else [0])


class Trainer:
    """A workload's model, optimiser and data, and the compiled steps that train them."""

    def __init__(self, config: WorkloadConfig, dataset: data.Dataset,
                 strategy: tf.distribute.Strategy | None = None,
                 traced_passes: frozenset[str] = frozenset(),
                 instruments: Instruments | None = None) -> None:
        tf_setup.configure()
        self.config = config
        self.task = task_of(config)
        self.strategy = strategy
        self.traced_passes = traced_passes  # the other passes' injection step runs eagerly
        self.instruments = instruments
        self.batches = data.Batches(config, dataset)
        with strategy.scope() if strategy else contextlib.nullcontext():
            self.model = model.build(config)
            self.variables = list(self.model.trainable_variables)
            self.optimizer = optim.build(config, self.variables)
        self.checkpoint = tf.train.Checkpoint(model=self.model, optimizer=self.optimizer)
        if instruments is not None:
            instruments.bind(self)
        self._steps: dict[str | None, object] = {}
        self._evaluate = tf.function(self._eval_step, reduce_retracing=True)

    # ----------------------------------------------------------------- one replica's work
    def _loss_grads(self, x, y, seed, plan, replicas: Replicas, global_batch):
        ctx = nn.StepContext(training=True, replicas=replicas, seed=seed, plan=plan)
        with tf.GradientTape() as tape:
            logits = self.model(x, ctx)
            loss = tf.reduce_sum(self.task.example_losses(logits, y)) / global_batch
        grads = tape.gradient(loss, self.variables)
        correct = tf.reduce_sum(self.task.example_hits(logits, y))
        return loss, correct, grads

    @staticmethod
    def _plan(stage: str | None, args) -> FaultPlan | None:
        """The step's fault plan from its `FaultTensors` (passed flat, as `*args`)."""
        if stage is None:
            return None
        return FaultPlan(stage, fault_ops.relaxed(fault_ops.FaultTensors(*args)))

    def _update(self, loss, grads) -> dict[str, tf.Tensor]:
        """Apply the update (through the instruments' gate, if any); their probes after it."""
        gate = self.instruments.gate if self.instruments is not None else None
        self.optimizer.apply(grads, self.variables, gate)
        if self.instruments is None:
            return {}
        return self.instruments.probe(StepTensors(loss, list(grads), self))

    @staticmethod
    def _report(plan: FaultPlan | None):
        if plan is None or not plan.report:  # no site ran the fault's pass (see `step`)
            return ()
        return plan.report["golden"], plan.report["injected"], plan.report["summary"]

    def _emulated_step(self, stage: str | None, x, y, seed, *args):
        plan = self._plan(stage, args)
        global_batch = tf.cast(tf.shape(x)[0], tf.float32)
        replicas = Replicas(self.config.replicas)
        loss, correct, grads = self._loss_grads(x, y, seed, plan, replicas, global_batch)
        probes = self._update(loss, grads)
        return loss, correct / global_batch, self._report(plan), probes

    def _distributed_step(self, stage: str | None, x, y, seed, global_batch, *args):
        strategy = self.strategy

        def replica_fn(x, y):
            context = tf.distribute.get_replica_context()
            plan = self._plan(stage, args)
            replicas = Replicas(1, base=context.replica_id_in_sync_group,
                                total=context.num_replicas_in_sync)
            loss, correct, grads = self._loss_grads(x, y, seed, plan, replicas, global_batch)
            grads = context.all_reduce(tf.distribute.ReduceOp.SUM, grads)
            probes = self._update(loss, grads)
            return loss, correct, self._report(plan), probes

        loss, correct, report, probes = strategy.run(replica_fn, args=(x, y))
        loss = strategy.reduce(tf.distribute.ReduceOp.SUM, loss, axis=None)
        correct = strategy.reduce(tf.distribute.ReduceOp.SUM, correct, axis=None)
        # every replica measures the same all-reduced update: the first one's probes
        probes = {name: strategy.experimental_local_results(t)[0] for name, t in probes.items()}
        return loss, correct / global_batch, report, probes

    def _signature(self, stage: str | None) -> list[tf.TensorSpec]:
        """Batch size and fault size vary: the last step of an epoch and a 64-element fault
        reuse the graph of a full step and of a single-element one."""
        data_specs = [*self.task.batch_signature(self.config), tf.TensorSpec([2], tf.int64)]
        if stage is None:
            return data_specs
        return [*data_specs, *fault_ops.SPEC]

    def _compiled(self, stage: str | None):
        """The traced fault-free step (None), or the injection step of a pass, which serves
        every fault of that pass whatever its layer, operand, replica, positions and values."""
        if stage not in self._steps:
            if self.strategy is None:
                self._steps[stage] = tf.function(
                    lambda *a: self._emulated_step(stage, *a),
                    input_signature=self._signature(stage))
            else:
                self._steps[stage] = tf.function(
                    lambda *a: self._distributed_step(stage, *a), reduce_retracing=True)
        return self._steps[stage]

    def _step_function(self, stage: str | None):
        """The fault-free step is always traced; the injection step runs once per CSV, so it
        runs eagerly unless its pass is traced (`injection_steps`)."""
        if stage is None or stage in self.traced_passes:
            return self._compiled(stage)
        if self.strategy is None:
            return lambda *a: self._emulated_step(stage, *a)
        return lambda *a: self._distributed_step(stage, *a)

    # ----------------------------------------------------------------- public steps
    def step(self, epoch: int, step: int, injection: Injection | None = None) -> StepResult:
        """Train one step of the global batch; with `injection`, corrupt its one operation."""
        x, y = self.batches.batch(epoch, step)
        seed = data.stream_seed(self.config, data.DROPOUT, epoch, step)
        stage = injection.pass_ if injection is not None else None
        args = fault_args(injection, self.config) if injection is not None else ()
        function = self._step_function(stage)
        if self.strategy is None:
            loss, accuracy, report, probes = function(x, y, seed, *args)
        else:
            loss, accuracy, report, probes = function(
                self._distribute(x), self._distribute(y), seed,
                tf.cast(tf.shape(x)[0], tf.float32), *args)
            if report:
                report = tuple(self.strategy.experimental_local_results(t)[injection.replica]
                               for t in report)
        result = StepResult(float(loss), float(accuracy),
                            probes={name: t.numpy() for name, t in probes.items()})
        if injection is not None and not report:
            raise BadInput(injection.source, "target_layer",
                           f"{injection.layer} is never computed in training: no variable "
                           "depends on that gradient, so the step does not run it")
        if injection is not None:
            result.golden, result.injected, result.summary = (np.asarray(t, np.float32)
                                                              for t in report)
        return result

    def _distribute(self, t: tf.Tensor):
        replicas = self.strategy.num_replicas_in_sync
        n = t.shape[0] // replicas
        return self.strategy.experimental_distribute_values_from_function(
            lambda ctx: t[ctx.replica_id_in_sync_group * n:(ctx.replica_id_in_sync_group + 1) * n])

    def _eval_shares(self, x, y, valid):
        """Per-example test losses and hits of a batch laid out as R equal replica shares."""
        if self.strategy is None:
            replicas = Replicas(self.config.replicas)
        else:
            context = tf.distribute.get_replica_context()
            replicas = Replicas(1, base=context.replica_id_in_sync_group,
                                total=context.num_replicas_in_sync)
        logits = self.model(x, nn.StepContext(training=False, replicas=replicas))
        losses = self.task.example_losses(logits, y)
        hits = self.task.example_hits(logits, y)
        # A padding row may be NaN (its replica's statistics are): drop it, do not multiply.
        return tf.where(valid, losses, 0.0), tf.where(valid, hits, 0.0)

    def _eval_step(self, x, y, valid):
        if self.strategy is None:
            return self._eval_shares(x, y, valid)
        return self.strategy.run(self._eval_shares, args=(x, y, valid))

    def evaluate_examples(self) -> tuple[np.ndarray, np.ndarray]:
        """Test loss and hit (1.0 or 0.0) of every test example, in test-set order.

        As in the artifact (`valid_step` over a distributed dataset), each test batch of
        `test_batch` examples is split over the R replicas, replica r taking the r-th share
        (sizes differ by at most one, the first replicas taking one more), and every replica
        evaluates its share with its own batch-norm moving statistics."""
        losses, hits = [], []
        for x, y in self.batches.test_batches():
            layout = data.ReplicaShares(int(x.shape[0]), self.config.replicas)
            padded = [layout.pad(t) for t in (x, y)]
            args = (*padded, tf.constant(layout.valid))
            if self.strategy is None:
                loss, hit = self._evaluate(*args)
            else:
                loss, hit = (tf.concat(self.strategy.experimental_local_results(t), 0)
                             for t in self._evaluate(*(self._distribute(t) for t in args)))
            losses.append(layout.unpad(loss.numpy()))
            hits.append(layout.unpad(hit.numpy()))
        return np.concatenate(losses), np.concatenate(hits)

    def evaluate(self) -> tuple[float, float]:
        """Mean test loss and accuracy over the test set (batch norm in inference mode with
        each replica's own statistics on its share, no dropout)."""
        losses, hits = self.evaluate_examples()
        return float(np.mean(losses, dtype=np.float64)), float(np.mean(hits, dtype=np.float64))

    # ----------------------------------------------------------------- state
    @property
    def state_variables(self) -> list[tf.Variable]:
        """Every variable a checkpoint holds (the training state), in a fixed order."""
        return [*self.model.variables, *self.optimizer.variables]

    def set_learning_rate(self, value: float) -> None:
        self.optimizer.schedule.set_initial(value)

    def save(self, folder: Path, epoch: int, meta: dict) -> str:
        """Write a checkpoint folder atomically; return its hash."""
        tmp = folder.with_name(f".{folder.name}.tmp")
        if tmp.exists():  # left by a killed run
            shutil.rmtree(tmp)
        tmp.mkdir(parents=True)
        self.checkpoint.write(str(tmp / CHECKPOINT_PREFIX))
        (tmp / META).write_text(json.dumps({**meta, "epoch": epoch}, indent=1, sort_keys=True))
        files.replace_dir(tmp, folder)
        return files.hash_dir(folder)

    def restore(self, folder: Path) -> None:
        try:
            status = self.checkpoint.read(str(folder / CHECKPOINT_PREFIX))
            status.assert_existing_objects_matched()
        except (ValueError, AssertionError, tf.errors.OpError) as error:
            raise BadInput(str(folder), "golden checkpoint",
                           "does not fit this workload's model (written by another version of "
                           f"fi_core? {str(error).splitlines()[0][:200]})") from None

