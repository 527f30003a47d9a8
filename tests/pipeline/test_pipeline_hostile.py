"""No configuration string, CSV name or path ever reaches a shell as code (issue 11, item 1).

Real Snakemake runs (not dry runs) of configurations and replay folders whose names hold
`$(...)`, backticks, `;`, quotes and spaces: each is refused in one line before any job runs,
and the marker file their payload would create never appears. A run from a working directory
and a config file with such names works, the names taken literally. And every rule passes its
values as arguments quoted one by one (`{params.args:q}`): any text, rendered by Snakemake's
own formatter and run by bash, arrives as exactly that argument.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from snakemake.utils import format as snakemake_format

from .pipeline_helpers import REPO, run_snakemake, write_config

BANNER = "Using workflow specific profile"
PAYLOADS = ["$(touch PWNED)", "`touch PWNED`", "x;touch PWNED", "x' ; touch PWNED; '",
            'x" ; touch PWNED; "', "x y && touch PWNED"]
CSV = (REPO / "injections" / "artifact" / "resnet18" / "inj_masked.csv").read_text()


def marker_anywhere(root: Path) -> list[Path]:
    """The file `touch PWNED` would create, wherever the payload's shell would have run."""
    return [p for p in root.rglob("PWNED")]


def base(**campaign) -> dict:
    campaign.setdefault("workload", "resnet18_small")
    campaign.setdefault("n", 2)
    return {"run": ["c"], "campaigns": {"c": campaign}}


def hostile_configs(payload: str) -> list[tuple[str, dict]]:
    """(key, configuration) with the payload at each kind of place a string can be."""
    return [
        ("campaigns.c.layers[0]", base(layers=[f"conv1{payload}"])),
        ("campaigns.c.prefix", base(prefix=f"p{payload}_")),
        ("campaigns.c.fmodels[0]", base(fmodels=[payload])),
        ("campaigns", {"run": ["c"], "campaigns": {payload: {"workload": "resnet18_small",
                                                              "n": 1}}}),
        ("workloads.w.preset", {**base(workload="w"), "workloads": {"w": {"preset": payload}}}),
        ("workloads.w.set.optimizer",
         {**base(workload="w"), "workloads": {"w": {"set": {"optimizer": payload}}}}),
        ("engine.tpu", {**base(), "engine": {"strategy": "tpu", "tpu": payload}}),
        ("analysis.summary_by[0]", {**base(), "analysis": {"summary_by": [payload]}}),
        ("analysis.rates.x[0]", {**base(), "analysis": {"rates": {"x": [payload]}}}),
        ("analysis.artifact_traces", {**base(), "analysis": {"artifact_traces": payload}}),
        ("campaigns.c.csv_dir", base(n=None, csv_dir=payload)),
    ]


def refused_run(workdir: Path, config: Path) -> list[str]:
    """A real run (not a dry run): exit 2, its own lines beyond the banner."""
    result = run_snakemake(workdir, "--cores", "1", configfile=config, timeout=300)
    assert result.returncode == 2, (result.stdout + result.stderr)[-3000:]
    return [line for line in (result.stdout + result.stderr).splitlines()
            if line.strip() and not line.startswith(BANNER)]


def test_hostile_configuration_strings_are_refused_and_never_run(tmp_path):
    """Real runs at a few places (test_config_check.py has every place, in-process)."""
    cases = hostile_configs("")
    for i in (0, 3, 5, 8):  # a layer, a campaign name, a `set` value, a rates column
        payload = PAYLOADS[i % len(PAYLOADS)]
        key, config = hostile_configs(payload)[i]
        assert key == cases[i][0]
        lines = refused_run(tmp_path, write_config(tmp_path / f"bad{i}.yaml", config))
        assert len(lines) == 1 and lines[0].startswith(f"config: {key}: "), (key, lines)
    assert marker_anywhere(tmp_path) == []
    assert not (tmp_path / "results").exists() and not (tmp_path / "logs").exists()


def test_hostile_csv_names_in_a_replay_folder_are_refused(tmp_path):
    folder = tmp_path / "replay"
    folder.mkdir()
    (folder / "inj_ok.csv").write_text(CSV)
    config = write_config(tmp_path / "replay.yaml", {
        "run": ["r"], "workloads": {"paper": {"preset": "resnet18"}},
        "campaigns": {"r": {"workload": "paper", "csv_dir": "replay"}}})
    for payload in (PAYLOADS[0], PAYLOADS[3], "`touch PWNED` a b"):
        hostile = folder / f"{payload}.csv"
        hostile.write_text(CSV)
        lines = refused_run(tmp_path, config)
        assert len(lines) == 1, lines
        assert lines[0].startswith("config: campaigns.r.csv_dir: file name "), lines
        hostile.unlink()
    assert marker_anywhere(tmp_path) == []
    assert not (tmp_path / "results").exists()


def test_a_hostile_working_directory_and_config_name_are_taken_literally(tmp_path):
    """Generating a campaign's CSVs (a real job) from such a directory works, runs nothing."""
    workdir = tmp_path / "work $(touch PWNED); `touch PWNED` 'q' \"d\""
    workdir.mkdir()
    config = write_config(workdir / "c $(touch PWNED);'.yaml", base(n=3, seed=4))
    result = run_snakemake(workdir, "--cores", "1", "results/c/csv", configfile=config,
                           timeout=300)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    names = sorted(p.name for p in (workdir / "results" / "c" / "csv").glob("*.csv"))
    assert names == ["inj_00000.csv", "inj_00001.csv", "inj_00002.csv"]
    assert marker_anywhere(tmp_path) == []


def _shell_templates() -> list[str]:
    """The `shell:` strings of every rule (adjacent string literals joined)."""
    templates = []
    for smk in sorted((REPO / "workflow" / "rules").glob("*.smk")):
        for block in re.findall(r"\n    shell:\n((?:        \".*\"\n)+)", smk.read_text()):
            templates.append("".join(re.findall(r"\"(.*)\"", block)))
    return templates


def test_every_rule_quotes_every_value():
    templates = _shell_templates()
    assert len(templates) >= 9  # golden, generate(2), inject, decide, collect, rates, ...
    for template in templates:
        for field in re.findall(r"(?<!\{)\{([^{}]+)\}(?!\})", template):
            assert field == "threads" or field.endswith(":q"), (field, template)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.text(alphabet=st.characters(exclude_categories=["Cs"],
                                               exclude_characters="\x00"), min_size=1),
                min_size=1, max_size=5))
def test_quoted_arguments_reach_the_command_literally(tmp_path_factory, args):
    """Snakemake's `{params.args:q}`, run by bash: every element arrives whole and unchanged,
    whatever it holds, and nothing else runs."""
    folder = tmp_path_factory.mktemp("quoted")
    command = snakemake_format("printf '%s\\0' {args:q}", args=args)
    result = subprocess.run(["bash", "-c", command], capture_output=True, cwd=folder,
                            timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode("utf-8", "surrogateescape").split("\0")[:-1] == args
    assert list(folder.iterdir()) == []
