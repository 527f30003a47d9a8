"""Command line: `python -m fi_core {golden,generate,inject,observe,validate,sites,describe,
check-config}` (also `fi-core`).

Exit statuses (docs/interfaces.md has each command's contract): 0 success (a run that diverges
to INF/NaN is a result); 2 bad input, one line on stderr (`<file>: <key>: <reason>`), checked
before TensorFlow starts wherever possible, nothing written; 130 / 143 interrupted by SIGINT /
SIGTERM, one line, only complete outputs left; 141 stdout closed early (`| head`); 1 anything
else (a full disk, TensorFlow out of memory, a bug), one line. Never a traceback, unless
FI_CORE_DEBUG=1 asks for it.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from fi_core import faults
from fi_core.spec import plugins, workloads
from fi_core.spec.campaign import MAX_INJECTIONS
from fi_core.spec.errors import BadInput, one_line
from fi_core.spec.workloads import DECIMAL, INTEGER
from fi_core.store import files
from fi_formats import names, signals
from fi_formats.signals import Interrupted

DEBUG_ENV = "FI_CORE_DEBUG"
SIGNAL_STATUS, BROKEN_PIPE = signals.SIGNAL_STATUS, signals.BROKEN_PIPE
LEFT_BEHIND = {
    "golden": "no golden run written",
    "inject": "the traces of finished CSVs are kept, the run in progress wrote nothing",
    "generate": "no CSV written",
    "observe": "no trace written",
}
"""What an interrupted command leaves, said in its one line."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (exit status 2) like every other error."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: {one_line(message)}\n")


def integer(text: str) -> int:
    """An integer option: ASCII digits and a sign only (`int` would take `1_9` and `١٢`)."""
    if not INTEGER.fullmatch(text):
        raise argparse.ArgumentTypeError(f"expected an integer (ASCII digits), got {text[:40]!r}")
    return int(text)


def _overrides(pairs: Sequence[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip(" \t")
        if not sep or not key:
            raise BadInput("--set", pair[:60], "expected field=value")
        if key in out:
            raise BadInput("--set", key, "given twice")
        out[key] = value
    return out


def _workload(args: argparse.Namespace, overrides: dict[str, str]):  # -> WorkloadConfig
    """`--workload` with its `--set` overrides, each refused under its own option."""
    if args.workload not in workloads.PRESETS:
        raise BadInput("--workload", "workload", f"unknown workload {args.workload[:60]!r} "
                                                 f"(known: {', '.join(workloads.PRESETS)})")
    return workloads.resolve(args.workload, overrides, "--set")


def _csv_list(text: str | None) -> list[str]:
    return [item.strip() for item in (text or "").split(",") if item.strip()]


def _add_workload(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workload", default="resnet18_small",
                        help=f"preset ({', '.join(workloads.PRESETS)}); default resnet18_small")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                        help="override a workload field (repeatable)")


def _add_runtime(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="folder holding cifar-10-batches-py/ (not needed for digits)")
    parser.add_argument("--strategy", default="emulated", choices=("emulated", "mirrored", "tpu"),
                        help="replicas emulated on one device (default), MirroredStrategy, or TPU")
    parser.add_argument("--tpu", default=None, help="TPU name for --strategy tpu")
    parser.add_argument("--verbose", action="store_true",
                        help="show TensorFlow's start-up notices (also FI_CORE_VERBOSE=1)")


def _add_mitigation(parser: argparse.ArgumentParser, required: bool = False) -> None:
    from fi_core.mitigation import presets

    parser.add_argument("--mitigation", default=None if required else presets.NONE,
                        required=required, metavar="PRESET",
                        help=f"detectors and recovery ({', '.join(presets.names())}; "
                             "docs/mitigation.md)" + ("" if required else "; default none"))


def _plugin_option() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--plugin", action="append", default=[], metavar="MODULE",
                        help="import MODULE first: it registers networks, fault models or "
                             "value rules "
                             f"(repeatable; also ${plugins.ENVIRONMENT}=mod_a,mod_b)")
    return common


def parser() -> argparse.ArgumentParser:
    root = _Parser(prog="fi-core", description=__doc__.split("\n\n")[0],
                   formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = root.add_subparsers(dest="command", required=True)
    common = [_plugin_option()]

    golden = commands.add_parser("golden", parents=common,
                                 help="fault-free training with per-epoch checkpoints")
    _add_workload(golden)
    golden.add_argument("--out", type=Path, required=True, help="folder of the golden run")
    _add_runtime(golden)

    generate = commands.add_parser("generate", parents=common,
                                   help="write a random injection campaign")
    _add_workload(generate)
    generate.add_argument("--n", type=integer, required=True,
                          help=f"number of injections (at most {MAX_INJECTIONS})")
    generate.add_argument("--seed", type=integer, required=True, help="campaign seed")
    generate.add_argument("--out", type=Path, required=True, help="folder for the CSVs")
    generate.add_argument("--stages", default="fwrd_inject,bkwd_inject")
    generate.add_argument("--fmodels", default=",".join(faults.ARTIFACT_NAMES),
                          help="fault models to draw from (default: the artifact's 18)")
    generate.add_argument("--layers", default="", help="restrict to these layers (comma list)")
    generate.add_argument("--backward-ops", default="grad_in",
                          help="grad_in (the paper's method), or grad_in,grad_wt")
    generate.add_argument("--all-sites", action="store_true",
                          help="also draw the classifier, which the artifact's lists leave out")
    generate.add_argument("--value-range", default=None, metavar="LO,HI",
                          help="draw values uniformly from [LO, HI) (worst case: 1e16,1e18)")
    generate.add_argument("--min-epoch", type=integer, default=1)
    generate.add_argument("--prefix", default="inj_",
                          help="CSV names: <prefix><index>.csv ([A-Za-z0-9_-], at most 64)")

    inject = commands.add_parser("inject", parents=common,
                                 help="replay injection CSVs against a golden run")
    inject.add_argument("--file", type=Path, action="append", required=True, dest="files",
                        help="an injection CSV (repeatable: one process, many replays)")
    inject.add_argument("--golden", type=Path, required=True, help="folder of the golden run")
    inject.add_argument("--out-dir", type=Path, required=True)
    inject.add_argument("--partial-dir", type=Path, default=None, metavar="DIR",
                        help="write each finished pair here first and move them all to "
                             "--out-dir at the end; a rerun keeps the pairs an earlier attempt "
                             "finished here (same CSVs, golden run and options) and trains "
                             "only the rest")
    inject.add_argument("--injection-step", default=None, choices=("auto", "eager", "traced"),
                        help="run the once-per-CSV injection step eagerly, traced, or auto "
                             "(default: traced for a pass with many CSVs in this batch; "
                             "always traced under --strategy tpu)")
    inject.add_argument("--early-exit", default="injection-epoch",
                        choices=("injection-epoch", "every-epoch", "off"),
                        help="when a run whose state is back to the golden run's stops: "
                             "checked after its injection epoch (default), after every epoch, "
                             "or never")
    inject.add_argument("--no-early-exit", dest="early_exit", action="store_const",
                        const="off", help="the same as --early-exit off")
    stopping = inject.add_mutually_exclusive_group()
    stopping.add_argument("--horizon", type=integer, default=None, metavar="H",
                          help="stop every run H epoch ends after its fault (the injection "
                               "epoch's own end is the first), save its state in --state-dir "
                               "and its features in <id>.horizon.json")
    stopping.add_argument("--features-at", type=integer, default=None, metavar="H",
                          help="record the features at that horizon, and train on to the end")
    stopping.add_argument("--continue-from", type=Path, default=None, metavar="DIR",
                          help="continue these CSVs' runs, stopped by --horizon, from their "
                               "states saved in DIR, to the end")
    inject.add_argument("--state-dir", type=Path, default=None, metavar="DIR",
                        help="where --horizon saves the runs' states")
    _add_mitigation(inject)
    inject.add_argument("--mitigation-mode", default="active", choices=("active", "observe"),
                        help="active (default): the preset recovers; observe: it only records")
    inject.add_argument("--observed", type=Path, default=None, metavar="JSON",
                        help="an observe run of the same preset on this golden run: its "
                             "detectors' running state primes every run")
    _add_runtime(inject)

    observe = commands.add_parser(
        "observe", parents=common,
        help="replay a golden run's training with a preset's detectors observing (false "
             "positives)")
    observe.add_argument("--golden", type=Path, required=True, help="folder of the golden run")
    _add_mitigation(observe, required=True)
    observe.add_argument("--out-dir", type=Path, required=True,
                         help="writes <golden folder name>.txt and .json here")
    _add_runtime(observe)

    validate = commands.add_parser("validate", parents=common,
                                   help="check CSVs against their workloads")
    validate.add_argument("files", nargs="+", type=Path)

    sites = commands.add_parser("sites", parents=common,
                                help="a workload's injectable layers, one per line")
    _add_workload(sites)
    sites.add_argument("--stage", default=names.FORWARD_STAGE, choices=tuple(names.STAGES))
    sites.add_argument("--all-sites", action="store_true",
                       help="also the sites outside the artifact's lists (e.g. the classifier)")

    describe = commands.add_parser("describe", parents=common,
                                   help="workloads, fault models and id width")
    describe.add_argument("--json", action="store_true", help="machine-readable (the default)")

    check = commands.add_parser(
        "check-config", parents=common,
        help="check a pipeline configuration request (JSON) with the engine")
    check.add_argument("--request", default="-", metavar="FILE",
                       help="the JSON request (default: standard input)")
    return root


def _validate(args: argparse.Namespace) -> int:
    from fi_core.spec import injection

    bad = 0
    for path in args.files:
        try:
            injection.parse(path)
        except BadInput as error:
            print(error, file=sys.stderr)
            bad += 1
        except Exception as error:  # a bug, but still one line per file
            print(f"{injection.shown(str(path))}: file: cannot be checked "
                  f"({type(error).__name__})", file=sys.stderr)
            bad += 1
    return 2 if bad else 0


def _sites(args: argparse.Namespace) -> int:
    from fi_core.spec import architecture

    config = _workload(args, _overrides(args.set))
    only = not args.all_sites
    layers = (architecture.forward_layers(config, artifact_only=only)
              if args.stage == names.FORWARD_STAGE
              else architecture.backward_layers(config, artifact_only=only))
    print("\n".join(layers))
    return 0


def _describe(args: argparse.Namespace) -> int:
    import json

    from fi_core.commands.describe import describe

    print(json.dumps(describe(), indent=1))
    return 0


def _value_range(text: str | None) -> tuple[float, float] | None:
    if not text:
        return None
    parts = [part.strip(" \t") for part in text.split(",")]
    if len(parts) != 2 or not all(DECIMAL.fullmatch(part) for part in parts):
        raise BadInput("--value-range", "value_range",
                       f"expected LO,HI (two decimal numbers), got {text[:60]!r}")
    low, high = (float(part) for part in parts)
    return low, high


MAX_REQUEST_BYTES = 8 * 2**20
"""The largest check-config request (a file or standard input): 8 MiB."""


def _request_text(source: str) -> str:
    """The check-config request: standard input read to at most MAX_REQUEST_BYTES, or a
    regular file checked with os.stat before a byte is read (a FIFO would block, /dev/zero
    never end, a huge file fill memory), as UTF-8 text."""
    import stat

    if source == "-":
        data = sys.stdin.buffer.read(MAX_REQUEST_BYTES + 1)
    else:
        try:
            info = os.stat(source)
        except (OSError, ValueError) as error:  # ValueError: a NUL in the name
            raise BadInput(source, "request",
                           getattr(error, "strerror", None) or str(error)) from None
        if not stat.S_ISREG(info.st_mode):
            raise BadInput(source, "request", "not a regular file")
        if info.st_size > MAX_REQUEST_BYTES:
            raise BadInput(source, "request", f"{info.st_size} bytes, larger than the "
                                              f"{MAX_REQUEST_BYTES} bytes a request may have")
        try:
            data = files.read_input(Path(source), MAX_REQUEST_BYTES)
        except BadInput as error:  # it changed since the stat
            raise BadInput(source, "request", error.reason) from None
    if len(data) > MAX_REQUEST_BYTES:
        raise BadInput(source, "request",
                       f"larger than the {MAX_REQUEST_BYTES} bytes a request may have")
    return data.decode("utf-8")


def _check_config(args: argparse.Namespace) -> int:
    import json

    from fi_core.commands.check import check_request

    source = args.request
    try:
        request = json.loads(_request_text(source))
    except OSError as error:
        raise BadInput(source, "request", error.strerror or str(error)) from None
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise BadInput(source, "request", f"not JSON: {type(error).__name__}") from None
    print(json.dumps(check_request(request)))
    return 0


def _generate(args: argparse.Namespace) -> int:
    from fi_core.spec import campaign

    overrides = _overrides(args.set)
    config = _workload(args, overrides)
    spec = campaign.CampaignSpec(
        workload=args.workload, config=config, overrides=overrides,
        stages=_csv_list(args.stages), fmodels=_csv_list(args.fmodels),
        layers=_csv_list(args.layers), backward_ops=_csv_list(args.backward_ops),
        all_sites=args.all_sites, value_range=_value_range(args.value_range),
        min_epoch=args.min_epoch)
    files.check_output_dir(args.out, "--out")
    campaign.check(spec)
    campaign.check_output(args.n, args.seed, args.out, args.prefix)
    with files.staged_files(args.out) as work:  # all the CSVs, or none
        paths = campaign.generate(spec, args.n, args.seed, work, args.prefix, args.out)
    print(f"wrote {len(paths)} injection CSVs to {args.out}")
    return 0


def _check_golden(args: argparse.Namespace):  # -> WorkloadConfig
    from fi_core.store import golden

    config = _workload(args, _overrides(args.set))
    golden.check_out(args.out)
    return config


def _check_inject(args: argparse.Namespace):  # -> (hits, WorkloadConfig, Setting | None)
    from fi_core.mitigation import priming
    from fi_core.spec import injection
    from fi_core.store import golden, outputs

    hits = injection.parse_all(args.files)
    config = golden.check_against_golden(hits, args.golden)
    outputs.check_inject(hits, args.golden, args.out_dir)
    mitigation = priming.setting(args.mitigation, args.mitigation_mode, args.observed,
                                 args.golden)
    return hits, config, mitigation


def _open_partial(args: argparse.Namespace, hits: list):  # -> resume.PartialRuns | None
    """The runs an earlier attempt of this job finished in `--partial-dir` (None without)."""
    from fi_core.store import resume

    if args.partial_dir is None:
        return None
    resume.check_partial_dir(args.partial_dir, args.out_dir, args.golden)
    options = {"injection_step": args.injection_step or "", "early_exit": args.early_exit,
               "strategy": args.strategy, "mitigation": args.mitigation,
               "mitigation_mode": args.mitigation_mode,
               "observed": resume.file_sha256(args.observed),
               "data_dir": None if args.data_dir is None else str(args.data_dir)}
    return resume.open_partial(args.partial_dir, hits, golden_dir=args.golden, options=options)


def _horizon_options(args: argparse.Namespace) -> dict:
    """What a stopped run's continuation must share with it, besides the CSV and golden run."""
    return {"early_exit": args.early_exit, "strategy": args.strategy,
            "data_dir": None if args.data_dir is None else str(args.data_dir)}


def _check_horizon(args: argparse.Namespace, hits: list):  # -> (Plan | None, [SavedRun])
    """`--horizon`, `--features-at` and `--continue-from`, checked before TensorFlow starts."""
    from fi_core.mitigation import presets
    from fi_core.spec.errors import BadInput
    from fi_core.store import horizon, outputs

    given = next((option for option, value in (("--horizon", args.horizon),
                                               ("--features-at", args.features_at),
                                               ("--continue-from", args.continue_from))
                  if value is not None), None)
    if given is None:
        if args.state_dir is not None:
            raise BadInput("--state-dir", "value", "is for --horizon only")
        return None, []
    if args.mitigation != presets.NONE:
        raise BadInput(given, "--mitigation", "a preset's detectors keep a state of their own "
                                              "that a horizon does not save: run mitigation "
                                              "campaigns without a horizon")
    if args.partial_dir is not None:
        raise BadInput(given, "--partial-dir", "not with a horizon (its runs are short: a "
                                               "failed job trains them again)")
    if (args.horizon is None) != (args.state_dir is None):
        raise BadInput("--state-dir", "value", "--horizon and --state-dir go together")
    if args.continue_from is not None:
        saved = [horizon.open_saved(args.continue_from, hit, args.golden, _horizon_options(args))
                 for hit in hits]
        return None, saved
    if args.state_dir is not None:
        outputs.check_trace_dir(args.golden, args.state_dir, "--state-dir")
    epochs = horizon.check_horizon(
        args.horizon if args.horizon is not None else args.features_at, given)
    return horizon.Plan(epochs, args.state_dir, _horizon_options(args)), []


def _check_observe(args: argparse.Namespace):  # -> (WorkloadConfig, Setting)
    from fi_core.mitigation import priming
    from fi_core.store import golden, outputs

    mitigation = priming.observing(args.mitigation)
    config = golden.open_golden(args.golden).config
    outputs.check_trace_dir(args.golden, args.out_dir)
    outputs.observe_label(args.golden)
    return config, mitigation


def _train(args: argparse.Namespace) -> int:
    """Check everything the user gave (inputs, outputs, the data set) before TensorFlow
    starts, then train."""
    from fi_core.store import cifar, resume

    hits, mitigation, partial, plan, saved = [], None, None, None, []
    if args.command == "golden":
        config = _check_golden(args)
    elif args.command == "observe":
        config, mitigation = _check_observe(args)
    else:
        hits, config, mitigation = _check_inject(args)
        plan, saved = _check_horizon(args, hits)
        partial = _open_partial(args, hits)
        if partial is not None and not partial.todo:  # an earlier attempt finished them all
            resume.finish(partial, hits, args.out_dir)
            return 0
    if config.dataset == "cifar10":
        cifar.preload(args.data_dir)
    from fi_core.engine import tf_setup

    tf_setup.start(args.verbose)
    from fi_core.engine import replicas
    from fi_core.replay import runs

    strategy = replicas.make(args.strategy, config.replicas, args.tpu)
    if args.command == "golden":
        runs.golden(args.workload, config, args.out, args.data_dir, strategy)
    elif args.command == "observe":
        runs.observe(args.golden, mitigation, args.out_dir, args.data_dir, strategy)
    elif saved:
        from fi_core.replay import continued

        continued.continue_runs(saved, config, args.golden, args.out_dir, args.data_dir,
                                strategy, early_exit=args.early_exit)
    else:
        step = args.injection_step or ("traced" if args.strategy == "tpu" else "auto")
        todo, out_dir = (partial.todo, partial.folder) if partial else (hits, args.out_dir)
        runs.replay(list(todo), config, args.golden, out_dir, args.data_dir, strategy,
                    injection_step=step, early_exit=args.early_exit, mitigation=mitigation,
                    horizon=plan)
        if partial is not None:
            resume.finish(partial, hits, args.out_dir)
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "golden": _train, "inject": _train, "observe": _train, "generate": _generate,
    "validate": _validate, "sites": _sites, "describe": _describe, "check-config": _check_config,
}


def _interrupted(prog: str, signum: int) -> int:
    left = LEFT_BEHIND.get(prog.removeprefix("fi-core "), "nothing written")
    print(signals.interrupted_line(prog, signum, left), file=sys.stderr)
    return signals.exit_status(signum)


def _debugging() -> bool:
    return os.environ.get(DEBUG_ENV, "").strip() not in ("", "0")


def main(argv: Sequence[str] | None = None, held: Sequence[int] = ()) -> int:
    """Run one command; returns the exit status (see the module docstring). `held`: stop
    signals that arrived before the handlers were in place (`fi_core.__main__`)."""
    prog = "fi-core"
    with signals.interrupts_raised():
        try:
            if held:
                signal.raise_signal(held[0])
            # Plugins before the parser: its help lists the presets and fault models they add.
            plugins.load(plugins.from_environment(), plugins.ENVIRONMENT)
            args = parser().parse_args(argv)
            prog = f"fi-core {args.command}"
            plugins.load(args.plugin, "--plugin")
            code = COMMANDS[args.command](args)
        except (KeyboardInterrupt, Interrupted) as error:
            return _interrupted(prog, signals.signal_of(error))
        except BaseException as error:
            if signals.received and not isinstance(error, SystemExit):
                # What an interrupt caused on its way out (wrapped in another exception by the
                # code it interrupted, or a cleanup that failed because of it) is the interrupt.
                return _interrupted(prog, signals.received[0])
            return _failed(prog, error)
        return _interrupted(prog, signals.received[0]) if signals.received else code


def _failed(prog: str, error: BaseException) -> int:
    """The exit status and one line of a command that raised `error`."""
    try:
        raise error
    except BadInput:
        print(error, file=sys.stderr)
        return 2
    except BrokenPipeError:
        return signals.stdout_closed()
    except Exception:
        if _debugging():
            raise
        kind = "cannot read or write a file" if isinstance(error, OSError) else "failed"
        print(f"{prog}: {kind}: {type(error).__name__}: {one_line(str(error), 600)} "
              f"({DEBUG_ENV}=1 shows the traceback)", file=sys.stderr)
        return 1


def run(argv: Sequence[str] | None = None, held: Sequence[int] = ()) -> None:
    """The `fi-core` and `python -m fi_core` entry point: `main`, then a fast exit.

    Every output is in place (written to a temporary name, fsynced and renamed) when `main`
    returns, so the process ends at once with `os._exit` instead of letting TensorFlow tear down
    its runtime (about 1.8 s per process)."""
    code = main(argv, held)
    # Every output is in place: a signal from now on changes nothing (and prints nothing).
    signal.pthread_sigmask(signal.SIG_BLOCK, signals.STOP_SIGNALS)
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        code = code or signals.stdout_closed()
    with contextlib.suppress(OSError):
        sys.stderr.flush()
    os._exit(code)
