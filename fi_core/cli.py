"""Command line: `python -m fi_core {golden,generate,inject,observe,validate,sites,describe}`
(also `fi-core`)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from fi_core import faults, plugins, workloads
from fi_core.campaign import MAX_INJECTIONS
from fi_core.errors import BadInput


def _overrides(pairs: Sequence[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise BadInput("--set", pair, "expected field=value")
        out[key.strip()] = value.strip()
    return out


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
    root = argparse.ArgumentParser(prog="fi-core", description=__doc__)
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
    generate.add_argument("--n", type=int, required=True,
                          help=f"number of injections (at most {MAX_INJECTIONS})")
    generate.add_argument("--seed", type=int, required=True, help="campaign seed")
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
    generate.add_argument("--min-epoch", type=int, default=1)
    generate.add_argument("--prefix", default="inj_",
                          help="CSV names: <prefix><index>.csv ([A-Za-z0-9_-], at most 64)")

    inject = commands.add_parser("inject", parents=common,
                                 help="replay injection CSVs against a golden run")
    inject.add_argument("--file", type=Path, action="append", required=True, dest="files",
                        help="an injection CSV (repeatable: one process, many replays)")
    inject.add_argument("--golden", type=Path, required=True, help="folder of the golden run")
    inject.add_argument("--out-dir", type=Path, required=True)
    inject.add_argument("--injection-step", default=None, choices=("eager", "traced"),
                        help="run the once-per-CSV injection step eagerly (default; traced "
                             "under --strategy tpu) or traced")
    inject.add_argument("--no-early-exit", dest="early_exit", action="store_false",
                        help="train every run to its end, even when its state is back to the "
                             "golden run's")
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
    sites.add_argument("--stage", default="fwrd_inject", choices=("fwrd_inject", "bkwd_inject"))
    sites.add_argument("--all-sites", action="store_true",
                       help="also the sites outside the artifact's lists (e.g. the classifier)")

    describe = commands.add_parser("describe", parents=common,
                                   help="workloads, fault models and id width")
    describe.add_argument("--json", action="store_true", help="machine-readable (the default)")
    return root


def _validate(paths: Sequence[Path]) -> int:
    from fi_core import injection

    bad = 0
    for path in paths:
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
    from fi_core import architecture

    config = workloads.resolve(args.workload, _overrides(args.set), "--set")
    only = not args.all_sites
    names = (architecture.forward_layers(config, artifact_only=only)
             if args.stage == "fwrd_inject"
             else architecture.backward_layers(config, artifact_only=only))
    print("\n".join(names))
    return 0


def _describe() -> int:
    import json

    from fi_core.describe import describe

    print(json.dumps(describe(), indent=1))
    return 0


def _generate(args: argparse.Namespace) -> int:
    from fi_core import campaign

    overrides = _overrides(args.set)
    config = workloads.resolve(args.workload, overrides, "--set")
    value_range = None
    if args.value_range:
        try:
            low, high = (float(v) for v in args.value_range.split(","))
        except ValueError:
            raise BadInput("--value-range", "value_range", "expected LO,HI") from None
        value_range = (low, high)
    spec = campaign.CampaignSpec(
        workload=args.workload, config=config, overrides=overrides,
        stages=_csv_list(args.stages), fmodels=_csv_list(args.fmodels),
        layers=_csv_list(args.layers), backward_ops=_csv_list(args.backward_ops),
        all_sites=args.all_sites, value_range=value_range, min_epoch=args.min_epoch)
    paths = campaign.generate(spec, args.n, args.seed, args.out, args.prefix)
    print(f"wrote {len(paths)} injection CSVs to {args.out}")
    return 0


def _train(args: argparse.Namespace) -> int:
    """Check everything the user gave before TensorFlow starts, then train."""
    from fi_core import golden, injection
    from fi_core.mitigation import priming

    hits, mitigation = [], None
    if args.command == "golden":
        config = workloads.resolve(args.workload, _overrides(args.set), "--set")
    elif args.command == "observe":
        config = golden.read_golden(args.golden)[1]
        mitigation = priming.observing(args.mitigation)
    else:
        hits = injection.parse_all(args.files)
        config = golden.check_against_golden(hits, args.golden)
        mitigation = priming.setting(args.mitigation, args.mitigation_mode, args.observed,
                                     args.golden)
    from fi_core import tf_setup

    tf_setup.start(args.verbose)
    from fi_core import replicas, runs

    strategy = replicas.make(args.strategy, config.replicas, args.tpu)
    if args.command == "golden":
        runs.golden(args.workload, config, args.out, args.data_dir, strategy)
    elif args.command == "observe":
        runs.observe(args.golden, mitigation, args.out_dir, args.data_dir, strategy)
    else:
        step = args.injection_step or ("traced" if args.strategy == "tpu" else "eager")
        runs.replay(hits, config, args.golden, args.out_dir, args.data_dir, strategy,
                    injection_step=step, early_exit=args.early_exit, mitigation=mitigation)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    try:  # before the parser: its help lists the presets and fault models plugins add
        plugins.load(plugins.from_environment(), plugins.ENVIRONMENT)
    except BadInput as error:
        print(error, file=sys.stderr)
        return 2
    args = parser().parse_args(argv)
    try:
        plugins.load(args.plugin, "--plugin")
        if args.command == "validate":
            return _validate(args.files)
        if args.command == "generate":
            return _generate(args)
        if args.command == "sites":
            return _sites(args)
        if args.command == "describe":
            return _describe()
        return _train(args)
    except BadInput as error:
        print(error, file=sys.stderr)
        return 2


def run(argv: Sequence[str] | None = None) -> None:
    """The `fi-core` and `python -m fi_core` entry point: `main`, then a fast exit.

    Every output is in place (written to a temporary name, fsynced and renamed) when `main`
    returns, so the process ends at once with `os._exit` instead of letting TensorFlow tear down
    its runtime (about 1.8 s per process)."""
    code = main(argv)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
