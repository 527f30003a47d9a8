"""Golden references: hash matching, refusing to mix campaigns, unusable golden runs, and the
artifact's immediate trace against the artifact's fault-free run."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from analysis import synthetic as syn
from analysis.collect import classify, load_goldens
from analysis.errors import InputError
from analysis.ingest import IngestOptions
from analysis.tracefiles import load_trace


def test_artifact_immediate_trace_is_immediate(artifact_traces: Path) -> None:
    result = list(
        classify(
            [str(artifact_traces / "replay_inj_immediate_infs_nans.txt")],
            [str(artifact_traces / "fault_free.txt")],
            jobs=1,
            log=io.StringIO(),
        )
    )
    assert result == [
        (str(artifact_traces / "replay_inj_immediate_infs_nans.txt"), "Immediate INFs/NaNs")
    ]


def test_reference_is_found_by_checkpoint_hash(campaign) -> None:
    other, other_path = campaign.add_golden("golden_b", config={"seed": 124})
    path = campaign.inject("inj_b", golden=other)
    _, gs = load_goldens([str(campaign.golden_path), str(other_path)], IngestOptions())
    ref, band = gs.reference_for(load_trace(str(path)))
    assert ref.id == "golden_b" and ref.path == str(other_path)
    assert band.size == 2


def test_text_trace_uses_the_first_golden(campaign) -> None:
    other, other_path = campaign.add_golden("golden_b", config={"seed": 124})
    path = campaign.inject("inj_t", golden=other, fmt="txt")
    _, gs = load_goldens([str(campaign.golden_path), str(other_path)], IngestOptions())
    ref, _ = gs.reference_for(load_trace(str(path)))
    assert ref.id == "golden_a"


def test_refuses_to_mix_campaigns(campaign, tmp_path: Path) -> None:
    stranger = syn.golden_record("golden_elsewhere")
    path = campaign.inject("inj_x", golden=stranger)
    with pytest.raises(InputError) as err:
        list(classify([str(path)], [str(campaign.golden_path)], jobs=1, log=io.StringIO()))
    message = str(err.value)
    assert message.startswith(f"{path}: golden_checkpoint.sha256: ")
    assert stranger["checkpoints"]["4"] in message  # the trace's hash
    assert str(campaign.golden_path) in message  # the golden runs given
    assert "refusing to mix" in message


def test_text_trace_of_another_shape_is_refused(campaign, artifact_traces: Path) -> None:
    path = campaign.inject("inj_t", fmt="txt")  # 20 epochs x 12 steps
    with pytest.raises(InputError, match="epochs: 20 differs from its golden run"):
        list(
            classify(
                [str(path)], [str(artifact_traces / "fault_free.txt")], jobs=1, log=io.StringIO()
            )
        )


def test_unusable_golden_runs(campaign, tmp_path: Path) -> None:
    injection = campaign.inject("inj_g")
    with pytest.raises(InputError, match="not a fault-free run"):
        load_goldens([str(injection)], IngestOptions())
    cut = tmp_path / "cut_golden.json"
    cut.write_text(campaign.golden_path.read_text()[:300])
    with pytest.raises(InputError, match="incomplete golden run"):
        load_goldens([str(cut)], IngestOptions())
    with pytest.raises(InputError, match="no such file"):
        load_goldens([str(tmp_path / "nope.json")], IngestOptions())
    with pytest.raises(InputError, match="at least one golden"):
        load_goldens([], IngestOptions())


def test_golden_directory_is_accepted(campaign, tmp_path: Path) -> None:
    gdir = tmp_path / "golden_dir"
    gdir.mkdir()
    syn.write_json(gdir / "trace.json", campaign.golden)
    syn.write_text(gdir / "trace.txt", campaign.golden)
    traces, _ = load_goldens([str(gdir)], IngestOptions())
    assert [t.path for t in traces] == [str(gdir / "trace.json")]


def test_csv_enrichment_of_artifact_text(artifact_traces: Path) -> None:
    csv_dir = artifact_traces.parents[2] / "injections" / "artifact" / "resnet18"
    t = load_trace(
        str(artifact_traces / "replay_inj_immediate_infs_nans.txt"), csv_dir=str(csv_dir)
    )
    assert t.problems == []
    assert t.injection is not None and t.injection.fmodel == "RD"
    assert t.workload == "resnet18" and t.config["learning_rate"] == "0.001"


def test_csv_that_does_not_match_is_refused(artifact_traces: Path, tmp_path: Path) -> None:
    csv_dir = artifact_traces.parents[2] / "injections" / "artifact" / "resnet18"
    src = csv_dir / "inj_immediate_infs_nans.csv"
    (tmp_path / "inj_immediate_infs_nans.csv").write_text(
        src.read_text().replace("target_step,38", "target_step,37")
    )
    with pytest.raises(InputError, match="target_step: CSV says '37'"):
        load_trace(
            str(artifact_traces / "replay_inj_immediate_infs_nans.txt"), csv_dir=str(tmp_path)
        )


def test_csv_with_a_key_twice_is_refused_as_the_engine_refuses_it(
    artifact_traces: Path, tmp_path: Path
) -> None:
    """One reader (fi_formats.injection_csv): a repeated row is refused, not read as its last."""
    csv_dir = artifact_traces.parents[2] / "injections" / "artifact" / "resnet18"
    src = csv_dir / "inj_immediate_infs_nans.csv"
    target = tmp_path / "inj_immediate_infs_nans.csv"
    target.write_text(src.read_text() + "target_step,37\n")
    with pytest.raises(InputError) as error:
        load_trace(
            str(artifact_traces / "replay_inj_immediate_infs_nans.txt"), csv_dir=str(tmp_path)
        )
    assert str(error.value) == f"{target}: target_step: appears twice"
