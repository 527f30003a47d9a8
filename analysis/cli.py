"""Command line: ``python -m analysis <command> ...`` (also installed as ``fi-analysis``).

Bad input is one line on stderr, ``<file>: <field>: <reason>`` (or ``<argument>: <reason>``),
and exit status 2, with no output file written. Heavy libraries are imported per command.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from analysis import __version__
from analysis.errors import InputError


def _columns(text: str) -> list[str]:
    return [c.strip() for c in text.split(",") if c.strip()]


def _add_threshold_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("outcome thresholds (see docs/analysis.md)")
    g.add_argument(
        "--short-term-steps",
        type=int,
        default=None,
        metavar="N",
        help="Short-term INFs/NaNs window in steps (default: one epoch of each run)",
    )
    g.add_argument(
        "--tol-min",
        type=float,
        default=0.02,
        help="minimum accuracy tolerance against the golden run (default 0.02)",
    )
    g.add_argument(
        "--chance-margin",
        type=float,
        default=0.05,
        help="SharpDegrade: accuracy <= 1/classes + this (default 0.05)",
    )
    g.add_argument(
        "--immediate-backward-steps",
        type=int,
        default=1,
        metavar="N",
        help="backward faults: non-finite up to N steps later is Immediate (default 1)",
    )


def _add_trace_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("reading traces")
    g.add_argument(
        "--golden",
        nargs="+",
        required=True,
        metavar="GOLDEN_TRACE",
        help="fault-free traces (files, or golden output directories)",
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

    return Thresholds(
        short_term_steps=args.short_term_steps,
        tol_min=args.tol_min,
        chance_margin=args.chance_margin,
        immediate_backward_steps=args.immediate_backward_steps,
    )


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
        sys.stdout.write(f"{path}\t{outcome}\n")
    sys.stdout.flush()
    return 0


def cmd_collect(args: argparse.Namespace) -> int:
    from analysis.collect import collect

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


def cmd_rates(args: argparse.Namespace) -> int:
    from analysis.groups import grouped_rates, needed_columns
    from analysis.table import read_results
    from analysis.tables import rates_markdown, write_csv, write_markdown

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

    for path in write_captions(args.out_dir):
        print(path)
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
    parser = argparse.ArgumentParser(
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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except InputError as exc:
        print(str(exc), file=sys.stderr)
        return 2
