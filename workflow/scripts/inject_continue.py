"""The `inject_continue` rule of a prediction-powered campaign (a Snakemake script).

Which of a job's runs go on is known only once `selection.csv` exists, so this step reads it
when the job runs: the job's runs that ended by themselves before their horizon have their trace
pair copied from the horizon folder into the job's trace folder (the JSON last), and the runs the
selection continues are trained on from their saved states by `fi-core inject --continue-from`,
started as an argument list (no shell), its output in the rule's log. The selection is a data
file: read as CSV text, nothing in it is run.
"""

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path


def job_rows(selection: str, ids: list[str]) -> list[dict[str, str]]:
    wanted = set(ids)
    with open(selection, newline="") as handle:
        return [row for row in csv.DictReader(handle) if row["id"] in wanted]


def main(smk) -> int:
    ids, csvs = list(smk.params.ids), list(smk.params.csvs)
    rows = job_rows(smk.input.selection, ids)
    out = Path(smk.output[0])
    out.mkdir(parents=True, exist_ok=True)
    for row in rows:
        if row["exact"] == "True":
            for ext in (".txt", ".json"):
                source = Path(smk.input.horizon, row["id"] + ext)
                try:
                    shutil.copyfile(source, Path(out, row["id"] + ext))
                except OSError as error:
                    print(f"{source}: file: {error.strerror or error} (the horizon job wrote no "
                          "trace of this run that ended by itself)", file=sys.stderr)
                    return 1
    chosen = {row["id"] for row in rows if row["labelled"] == "True" and row["exact"] == "False"}
    files = [arg for i, path in zip(ids, csvs, strict=True) if i in chosen
             for arg in ("--file", path)]
    with open(smk.log[0], "w") as log:
        if not files:
            log.write("no run of this job was selected to continue\n")
            return 0
        threads = str(smk.threads)
        env = {**os.environ, "TF_NUM_INTRAOP_THREADS": threads, "TF_NUM_INTEROP_THREADS": "1",
               "OMP_NUM_THREADS": threads}
        command = [sys.executable, "-m", "fi_core", "inject", *files, *smk.params.args]
        return subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, env=env).returncode


if __name__ == "__main__":
    sys.exit(main(snakemake))  # noqa: F821  (the object Snakemake gives a script)
