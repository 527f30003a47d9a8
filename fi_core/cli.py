"""Command line: `python -m fi_core {golden,generate,inject,validate,sites,describe,check-config}`
(also `fi-core`)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from fi_core import faults, workloads
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


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="fi-core", description=__doc__)
    commands = root.add_subparsers(dest="command", required=True)

    golden = commands.add_parser("golden", help="fault-free training with per-epoch checkpoints")
    _add_workload(golden)
    golden.add_argument("--out", type=Path, required=True, help="folder of the golden run")
    _add_runtime(golden)

    generate = commands.add_parser("generate", help="write a random injection campaign")
    _add_workload(generate)
    generate.add_argument("--n", type=int, required=True, help="number of injections")
    generate.add_argument("--seed", type=int, required=True, help="campaign seed")
    generate.add_argument("--out", type=Path, required=True, help="folder for the CSVs")
    generate.add_argument("--stages", default="fwrd_inject,bkwd_inject")
    generate.add_argument("--fmodels", default=",".join(faults.FAULT_MODELS))
    generate.add_argument("--layers", default="", help="restrict to these layers (comma list)")
    generate.add_argument("--backward-ops", default="grad_in",
                          help="grad_in (the paper's method), or grad_in,grad_wt")
    generate.add_argument("--all-sites", action="store_true",
                          help="also draw the classifier, which the artifact's lists leave out")
    generate.add_argument("--value-range", default=None, metavar="LO,HI",
                          help="draw values uniformly from [LO, HI) (worst case: 1e16,1e18)")
    generate.add_argument("--min-epoch", type=int, default=1)
    generate.add_argument("--prefix", default="inj_")

    inject = commands.add_parser("inject", help="replay injection CSVs against a golden run")
    inject.add_argument("--file", type=Path, action="append", required=True, dest="files",
                        help="an injection CSV (repeatable: one process, many replays)")
    inject.add_argument("--golden", type=Path, required=True, help="folder of the golden run")
    inject.add_argument("--out-dir", type=Path, required=True)
    _add_runtime(inject)

    validate = commands.add_parser("validate", help="check CSVs against their workloads")
    validate.add_argument("files", nargs="+", type=Path)

    sites = commands.add_parser("sites", help="a workload's injectable layers, one per line")
    _add_workload(sites)
    sites.add_argument("--stage", default="fwrd_inject", choices=("fwrd_inject", "bkwd_inject"))
    sites.add_argument("--all-sites", action="store_true",
                       help="also the sites outside the artifact's lists (e.g. the classifier)")

    describe = commands.add_parser("describe", help="workloads, fault models and id width")
    describe.add_argument("--json", action="store_true", help="machine-readable (the default)")

    check = commands.add_parser(
        "check-config", help="check a pipeline configuration request (JSON) with the engine")
    check.add_argument("--request", default="-", metavar="FILE",
                       help="the JSON request (default: standard input)")
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


def _check_config(source: str) -> int:
    import json

    from fi_core.check import check_request

    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
        request = json.loads(text)
    except OSError as error:
        raise BadInput(source, "request", error.strerror or str(error)) from None
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise BadInput(source, "request", f"not JSON: {type(error).__name__}") from None
    print(json.dumps(check_request(request)))
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

    hits = []
    if args.command == "golden":
        config = workloads.resolve(args.workload, _overrides(args.set), "--set")
    else:
        hits = injection.parse_all(args.files)
        config = golden.check_against_golden(hits, args.golden)
    from fi_core import replicas, runs, tf_setup

    strategy = replicas.make(args.strategy, config.replicas, args.tpu)
    tf_setup.configure()
    if args.command == "golden":
        runs.golden(args.workload, config, args.out, args.data_dir, strategy)
    else:
        runs.replay(hits, config, args.golden, args.out_dir, args.data_dir, strategy)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    from fi_core import plugins

    try:
        plugins.load(plugins.from_environment(), plugins.ENVIRONMENT)
    except BadInput as error:
        print(error, file=sys.stderr)
        return 2
    args = parser().parse_args(argv)
    try:
        if args.command == "validate":
            return _validate(args.files)
        if args.command == "generate":
            return _generate(args)
        if args.command == "sites":
            return _sites(args)
        if args.command == "describe":
            return _describe()
        if args.command == "check-config":
            return _check_config(args.request)
        return _train(args)
    except BadInput as error:
        print(error, file=sys.stderr)
        return 2
