"""Command line: ``python -m analysis <command> ...`` (also installed as ``fi-analysis``).

Exit statuses (docs/interfaces.md has the contract of every command): 0 success; 2 bad input,
one line on stderr, ``<file>: <field>: <reason>`` (or ``<argument>: <reason>``), no output
written; 130 / 143 interrupted by SIGINT / SIGTERM, one line, no output written; 1 an error
that is not the input's (a full disk, a bug), one line. Never a traceback (set
FI_ANALYSIS_DEBUG=1 to see one). Output paths are checked before any work. Heavy libraries are
imported per command.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from analysis import __version__
from analysis.errors import InputError, escaped, one_line
from analysis.outputs import check_distinct, check_output_dir, check_output_file
from analysis.prediction import commands as prediction_commands
from fi_formats import signals
from fi_formats.signals import Interrupted

MAX_ARGS_FILE_DEPTH = 10
"""@FILE inside an @FILE: at most this deep (a list naming itself must not recurse forever)."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (and exit status 2) like every other error, and
    an @FILE is read as every small input is (inputs.read_text: a regular UTF-8 file of at
    most 8 MiB, refused in one line naming it otherwise)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: {one_line(message)}\n")

    def _read_args_from_files(  # type: ignore[override]
        self, arg_strings: list[str], depth: int = 0
    ) -> list[str]:
        from analysis.inputs import read_text

        expanded: list[str] = []
        for arg in arg_strings:
            if not arg or arg[0] not in (self.fromfile_prefix_chars or ""):
                expanded.append(arg)
                continue
            path = arg[1:]
            try:
                if depth >= MAX_ARGS_FILE_DEPTH:
                    raise InputError(path, "arguments file", f"@FILE nested more than "
                                     f"{MAX_ARGS_FILE_DEPTH} deep (does it name itself?)")
                text = read_text(path, "arguments file", noun="an arguments file")
            except InputError as exc:
                self.exit(2, f"{exc}\n")
            lines = [a for line in text.splitlines() for a in self.convert_arg_line_to_args(line)]
            expanded.extend(self._read_args_from_files(lines, depth + 1))
        return expanded


def _columns(text: str) -> list[str]:
    return [c.strip() for c in text.split(",") if c.strip()]


def _add_threshold_args(p: argparse.ArgumentParser) -> None:
    """One option per registered threshold (analysis.rules: the built-ins and the plugins')."""
    from analysis.rules import registry

    g = p.add_argument_group("outcome thresholds (see docs/analysis.md)")
    for t in registry.thresholds():
        g.add_argument(t.option, dest=t.name, type=t.kind, default=t.default, metavar=t.metavar,
                       help=t.help)


def _add_plugin_arg(p: argparse.ArgumentParser) -> None:
    from analysis.plugins import ENVIRONMENT

    p.add_argument(
        "--plugin",
        action="append",
        default=[],
        metavar="MODULE",
        help="import MODULE first: it registers outcome rules, their thresholds (options here) "
        f"and features (repeatable; also ${ENVIRONMENT}=mod_a,mod_b)",
    )


class _NoExit(Exception):
    pass


class _PluginScan(_Parser):
    """Finds the --plugin options before the real parser is built (their rules add options);
    a malformed command line is left to the real parser to report."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise _NoExit(message)


def _plugins_named(argv: Sequence[str] | None) -> list[str]:
    scan = _PluginScan(add_help=False, allow_abbrev=False, fromfile_prefix_chars="@")
    scan.add_argument("--plugin", action="append", default=[])
    try:
        known, _ = scan.parse_known_args(list(sys.argv[1:] if argv is None else argv))
    except _NoExit:
        return []
    return list(known.plugin)


def _add_trace_args(p: argparse.ArgumentParser, golden_required: bool = True) -> None:
    g = p.add_argument_group("reading traces")
    g.add_argument(
        "--golden",
        nargs="+",
        required=golden_required,
        metavar="GOLDEN_TRACE",
        help="fault-free traces (files, or golden output directories)"
        + ("" if golden_required else "; default: found from the traces' golden checkpoint"),
    )
    g.add_argument(
        "--num-classes", type=int, default=10, help="number of classes for text traces (default 10)"
    )
    g.add_argument(
        "--csv-dir",
        default=None,
        help="directory of injection CSVs that enrich text traces (inj_X.csv)",
    )
    g.add_argument(
        "--jobs", type=int, default=None, help="worker processes (default: the CPUs available)"
    )


def _thresholds(args: argparse.Namespace):  # -> Thresholds
    from analysis.outcomes import Thresholds

    return Thresholds(**{name: getattr(args, name) for name in Thresholds()})


def _ingest_options(args: argparse.Namespace):  # -> IngestOptions
    from analysis.ingest import IngestOptions

    return IngestOptions(num_classes=args.num_classes, csv_dir=args.csv_dir)


def _jobs(args: argparse.Namespace) -> int:
    from analysis.ingest import default_jobs

    if args.jobs is not None and args.jobs < 1:
        raise InputError("--jobs", None, f"must be >= 1, got {args.jobs}")
    return args.jobs or default_jobs()


def cmd_classify(args: argparse.Namespace) -> int:
    from analysis.collect import classify

    for path, outcome in classify(
        args.traces, args.golden, _thresholds(args), _ingest_options(args), _jobs(args)
    ):
        sys.stdout.write(f"{escaped(path)}\t{outcome}\n")  # one line per trace, whatever its name
    sys.stdout.flush()
    return 0


def cmd_collect(args: argparse.Namespace) -> int:
    from analysis.collect import collect

    check_output_file(args.out, "--out")
    if args.curves:
        check_output_file(args.curves, "--curves")
    check_distinct({"--out": args.out, "--curves": args.curves}, [*args.traces, *args.golden])
    summary = collect(
        args.traces,
        args.golden,
        args.out,
        args.curves,
        _thresholds(args),
        _ingest_options(args),
        _jobs(args),
    )
    counts = ", ".join(f"{k}: {v}" for k, v in summary.counts.items())
    print(f"{args.out}: {summary.n_rows} experiments ({counts})", file=sys.stderr)
    return 0


def cmd_reclassify(args: argparse.Namespace) -> int:
    from analysis.reclassify import reclassify

    check_output_file(args.out, "--out")
    check_distinct({"--out": args.out}, [args.table])
    counts = reclassify(args.table, args.out, _thresholds(args))
    shown = ", ".join(f"{k}: {v}" for k, v in counts.items())
    print(f"{args.out}: {sum(counts.values())} experiments ({shown})", file=sys.stderr)
    return 0


def cmd_rates(args: argparse.Namespace) -> int:
    from analysis.groups import grouped_rates, needed_columns
    from analysis.table import read_results
    from analysis.tables import rates_markdown, write_csv, write_markdown

    check_output_file(args.out, "--out")
    if args.markdown:
        check_output_file(args.markdown, "--markdown")
    check_distinct({"--out": args.out, "--markdown": args.markdown}, [args.table])
    by = _columns(args.by)
    df = read_results(args.table, needed_columns(by))
    rates = grouped_rates(
        df,
        by,
        args.method,
        args.confidence,
        args.epoch_bucket_width,
        skip_empty=args.skip_empty_groups,
    )
    markdown = rates_markdown(rates, by) if args.markdown else None
    write_csv(rates, args.out)
    if markdown is not None:
        write_markdown(markdown, args.markdown)
    return 0


def cmd_summary(args: argparse.Namespace) -> int:
    from analysis.groups import needed_columns
    from analysis.table import read_results
    from analysis.tables import summary_markdown, write_markdown

    if args.out:
        check_output_file(args.out, "--out")
        check_distinct({"--out": args.out}, [args.table])
    by = _columns(args.by)
    df = read_results(args.table, needed_columns(by))
    text = summary_markdown(df, args.confidence, by)
    if args.out:
        write_markdown(text, args.out)
    else:
        sys.stdout.write(text)
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from analysis.groups import compare_groups, needed_columns
    from analysis.table import read_results

    by = _columns(args.by)
    if not by:
        raise InputError("--by", None, "name at least one column to compare groups of")
    df = read_results(args.table, needed_columns(by))
    groups = _columns(args.groups) if args.groups else None
    table, result = compare_groups(df, by, args.outcome, groups, args.epoch_bucket_width)
    print(table.to_string(index=False))
    print(
        f"test: {result.method}, statistic {result.statistic:.6g}, dof {result.dof}, "
        f"p-value {result.p_value:.6g}"
    )
    return 0


def cmd_figures(args: argparse.Namespace) -> int:
    from analysis.figures import write_figures

    check_output_dir(args.out_dir, "--out-dir")
    check_distinct({"--out-dir": args.out_dir}, [args.table, args.curves, *args.golden])
    written = write_figures(
        args.table,
        args.curves,
        args.golden,
        args.out_dir,
        args.artifact_traces,
        confidence=args.confidence,
        num_classes=args.num_classes,
    )
    for path in written:
        print(path)
    return 0


def cmd_captions(args: argparse.Namespace) -> int:
    from analysis.captions import write_captions

    check_output_dir(args.out_dir, "--out-dir")
    for path in write_captions(args.out_dir):
        print(path)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from analysis.campaign_status import campaign_status, format_status

    def read():
        return campaign_status(
            args.results_dir,
            golden=args.golden,
            csv_dir=args.csv_dir,
            by=_columns(args.by),
            method=args.method,
            confidence=args.confidence,
            thresholds=_thresholds(args),
            num_classes=args.num_classes,
            jobs=_jobs(args),
        )

    if args.watch is None:
        status = read()
    else:
        from analysis.strict import number
        from analysis.watch import MAX_INTERVAL_S, watch

        seconds = number(
            args.watch, "--watch", low=0.0, high=MAX_INTERVAL_S, low_open=True, unit="seconds"
        )
        status = watch(read, seconds, sys.stderr)
    sys.stdout.write(format_status(status))
    return 0


def cmd_sequential(args: argparse.Namespace) -> int:
    import json

    from analysis.groups import needed_columns
    from analysis.sequential import estimate, long_table, markdown, record, schedule
    from analysis.table import read_results
    from analysis.tables import write_csv, write_markdown
    from fi_formats.atomic import write_text_atomic

    outputs = {"--out": args.out, "--csv": args.csv, "--markdown": args.markdown}
    for option, path in outputs.items():
        if path:
            check_output_file(path, option)
    check_distinct(outputs, [args.table])
    by = _columns(args.by)
    if not by:
        raise InputError("--by", None, "name at least one column (the strata)")
    plan = schedule(args.half_width, args.confidence, args.looks)
    df = read_results(args.table, needed_columns(by))
    strata = estimate(df, by, args.half_width, plan)
    data = record(strata, by, args.half_width, args.confidence, plan)
    if args.csv:
        write_csv(long_table(strata, by, plan), args.csv)
    if args.markdown:
        write_markdown(markdown(strata, by, args.half_width, args.confidence, plan), args.markdown)
    write_text_atomic(args.out, json.dumps(data, indent=1) + "\n")
    return 0


def cmd_check_config(args: argparse.Namespace) -> int:
    import json

    from analysis.config_check import check_request
    from analysis.inputs import read_text

    # A regular file of at most 8 MiB (or stdin, read to 8 MiB), checked before it is read.
    text = read_text(args.request, "request", noun="a request")
    try:
        request = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise InputError(args.request, "request", f"not JSON: {type(exc).__name__}") from None
    print(json.dumps(check_request(request)))
    return 0


def cmd_mitigation(args: argparse.Namespace) -> int:
    from analysis.mitigation_report import write_mitigation

    outputs = {"--out": args.out, "--markdown": args.markdown, "--figure": args.figure}
    for option, path in outputs.items():
        if path:
            check_output_file(path, option)
    if args.figure:
        check_output_file(args.figure.removesuffix(".png") + ".pdf", "--figure")
    check_distinct(outputs, [args.table, *args.observe])
    table = write_mitigation(
        args.table,
        args.observe,
        args.out,
        args.markdown,
        args.figure,
        args.confidence,
        args.baseline,
        args.examples,
    )
    print(f"{args.out}: {len(table)} preset(s) against {args.baseline}", file=sys.stderr)
    return 0


def cmd_sample_size(args: argparse.Namespace) -> int:
    from analysis.stats import sample_size

    print(sample_size(args.margin, args.confidence, args.population, args.p))
    return 0


def cmd_interval(args: argparse.Namespace) -> int:
    from analysis.stats import proportion_ci

    low, high = proportion_ci(args.k, args.n, args.method, args.confidence)
    print(f"{low:.6g}\t{high:.6g}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="fi-analysis",
        description="Analyse fault-injection traces: outcomes, rates with intervals, figures.",
        epilog="Arguments can be read from a file, one per line: @FILE (for long trace lists).",
        fromfile_prefix_chars="@",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("classify", help="print <path>TAB<outcome> for each trace")
    p.add_argument("traces", nargs="+", metavar="TRACE", help="trace files or directories")
    _add_trace_args(p)
    _add_threshold_args(p)
    p.set_defaults(func=cmd_classify)

    p = sub.add_parser("collect", help="write results.parquet (and curves.parquet)")
    p.add_argument("traces", nargs="+", metavar="TRACE_OR_DIR")
    p.add_argument("--out", required=True, help="results table (Parquet)")
    p.add_argument("--curves", default=None, help="long table of per-step/epoch values (Parquet)")
    _add_trace_args(p)
    _add_threshold_args(p)
    p.set_defaults(func=cmd_collect)

    p = sub.add_parser(
        "reclassify",
        help="recompute a results table's outcomes with other thresholds (no traces needed)",
    )
    p.add_argument("--table", required=True, help="results.parquet written by collect")
    p.add_argument("--out", required=True, help="the re-classified table (Parquet)")
    _add_threshold_args(p)
    p.set_defaults(func=cmd_reclassify)

    def stats_args(q: argparse.ArgumentParser) -> None:
        q.add_argument("--confidence", type=float, default=0.95, help="default 0.95")
        q.add_argument(
            "--epoch-bucket-width",
            type=int,
            default=10,
            help="epochs per epoch_bucket group (default 10)",
        )

    p = sub.add_parser("rates", help="outcome rates with intervals per group (CSV, Markdown)")
    p.add_argument("--table", required=True, help="results.parquet")
    p.add_argument("--by", required=True, help="COL[,COL...]; epoch_bucket is derived")
    p.add_argument("--out", required=True, help="CSV output")
    p.add_argument("--markdown", default=None, help="Markdown output")
    p.add_argument("--method", default="wilson", choices=["wilson", "clopper-pearson", "jeffreys"])
    p.add_argument(
        "--skip-empty-groups",
        action="store_true",
        help="leave out groups whose runs are all incomplete instead of failing",
    )
    stats_args(p)
    p.set_defaults(func=cmd_rates)

    p = sub.add_parser(
        "summary", help="outcome distribution per group, Wilson + Goodman (Markdown)"
    )
    p.add_argument("--table", required=True)
    p.add_argument("--by", default="workload,stage", help="default workload,stage")
    p.add_argument("--out", default=None, help="Markdown output (default: stdout)")
    stats_args(p)
    p.set_defaults(func=cmd_summary)

    p = sub.add_parser("compare", help="test whether groups differ (chi-square / Fisher)")
    p.add_argument("--table", required=True)
    p.add_argument("--by", required=True)
    p.add_argument("--outcome", default=None, help="compare the rate of one outcome")
    p.add_argument("--groups", default=None, help="only these groups (comma-separated)")
    stats_args(p)
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("figures", help="write every figure as PNG and PDF, with captions")
    p.add_argument("--table", required=True)
    p.add_argument("--curves", required=True)
    p.add_argument("--golden", nargs="+", required=True)
    p.add_argument("--out-dir", required=True)
    p.add_argument(
        "--artifact-traces", default=None, help="directory with fault_free.txt and replay_inj_*.txt"
    )
    p.add_argument("--confidence", type=float, default=0.95)
    p.add_argument("--num-classes", type=int, default=10, help="for text traces (default 10)")
    p.set_defaults(func=cmd_figures)

    p = sub.add_parser("captions", help="write the figure captions (.rst) only")
    p.add_argument("--out-dir", required=True)
    p.set_defaults(func=cmd_captions)

    p = sub.add_parser(
        "status",
        help="a running campaign: injections done and left, time left, provisional rates",
    )
    p.add_argument("results_dir", metavar="RESULTS_DIR", help="e.g. results/default")
    p.add_argument(
        "--by", default="stage", help="rates per group of these columns too (default stage)"
    )
    p.add_argument(
        "--watch",
        type=float,
        default=None,
        metavar="SECONDS",
        help="a live bar (stderr), refreshed every SECONDS until every planned injection has a "
        "trace or Ctrl-C; then the status",
    )
    p.add_argument("--method", default="wilson", choices=["wilson", "clopper-pearson", "jeffreys"])
    p.add_argument("--confidence", type=float, default=0.95)
    _add_trace_args(p, golden_required=False)
    _add_threshold_args(p)
    p.set_defaults(func=cmd_status)

    p = sub.add_parser(
        "sequential",
        help="a sequential campaign's strata: intervals at the schedule's level, target reached?",
    )
    p.add_argument("--table", required=True, help="results.parquet of the runs so far")
    p.add_argument("--by", required=True, help="the strata: COL[,COL...] (e.g. stage,fmodel)")
    p.add_argument("--half-width", type=float, required=True, help="target half-width, e.g. 0.1")
    p.add_argument("--confidence", type=float, default=0.95, help="overall confidence (0.95)")
    p.add_argument("--looks", type=int, default=4, help="looks of the schedule (default 4)")
    p.add_argument("--out", required=True, help="JSON record (what the pipeline reads)")
    p.add_argument("--csv", default=None, help="CSV: one row per stratum and outcome")
    p.add_argument("--markdown", default=None, help="Markdown report")
    p.set_defaults(func=cmd_sequential)

    p = sub.add_parser(
        "check-config", help="check a pipeline configuration request (JSON) with the analysis"
    )
    p.add_argument("--request", default="-", help="the JSON request (default: standard input)")
    p.set_defaults(func=cmd_check_config)

    p = sub.add_parser(
        "mitigation",
        help="coverage, false positives, latency and overhead of each mitigation preset",
    )
    p.add_argument("--table", required=True, help="results.parquet with every preset's runs")
    p.add_argument(
        "--observe",
        nargs="*",
        default=[],
        metavar="TRACE_OR_DIR",
        help="observe runs (fi-core observe): golden runs replayed with a preset observing",
    )
    p.add_argument("--out", required=True, help="CSV output, one row per preset")
    p.add_argument("--markdown", default=None, help="Markdown output")
    p.add_argument("--figure", default=None, help="figure (.png; the .pdf is written next to it)")
    p.add_argument("--baseline", default="none", help="the preset the others are paired with")
    p.add_argument(
        "--examples", type=int, default=10, help="runs not recovered listed per preset (10)"
    )
    p.add_argument("--confidence", type=float, default=0.95)
    p.set_defaults(func=cmd_mitigation)

    p = sub.add_parser("sample-size", help="injections needed for a margin of error")
    p.add_argument("--margin", type=float, required=True, help="e, in (0, 1)")
    p.add_argument("--confidence", type=float, required=True, help="in (0, 1)")
    p.add_argument("--population", type=int, default=None, help="N (default: infinite)")
    p.add_argument("--p", type=float, default=0.5, help="expected proportion (default 0.5)")
    p.set_defaults(func=cmd_sample_size)

    p = sub.add_parser("interval", help="interval for k successes in n")
    p.add_argument("k", type=int)
    p.add_argument("n", type=int)
    p.add_argument("--method", default="wilson", choices=["wilson", "clopper-pearson", "jeffreys"])
    p.add_argument("--confidence", type=float, default=0.95)
    p.set_defaults(func=cmd_interval)

    prediction_commands.add_parsers(sub)
    for command in sub.choices.values():  # last, so the options above keep their place in --help
        _add_plugin_arg(command)
    return parser


SIGNAL_STATUS = signals.SIGNAL_STATUS


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit status (see the module docstring)."""
    from analysis import plugins

    # Plugins before the parser: their thresholds are options of the commands.
    try:
        plugins.load(plugins.from_environment(), plugins.ENVIRONMENT)
        plugins.load(_plugins_named(argv))
    except InputError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    args = build_parser().parse_args(argv)
    prog = f"fi-analysis {args.command}"
    try:
        with signals.interrupts_raised():
            return int(args.func(args))
    except InputError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    except (KeyboardInterrupt, Interrupted) as exc:
        signum = signals.signal_of(exc)
        print(signals.interrupted_line(prog, signum, "no output written"), file=sys.stderr)
        return signals.exit_status(signum)
    except BrokenPipeError:  # e.g. `fi-analysis classify ... | head`
        return signals.stdout_closed()
    except Exception as exc:
        if os.environ.get("FI_ANALYSIS_DEBUG"):
            raise
        kind = "cannot write or read a file" if isinstance(exc, OSError) else "internal error"
        print(f"{prog}: {kind}: {type(exc).__name__}: {one_line(str(exc))}", file=sys.stderr)
        return 1
