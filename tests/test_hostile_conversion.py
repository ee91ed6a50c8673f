"""Hostile inputs to conversion and .tflite evaluation (issue 14), by class: conversion outputs as one unit
(lock, failed reports, bad --out), relative paths from another folder, the model's own settings, and the
atomic Keras save. The cases that need a real run share one tiny session training (an MLP, 1 epoch) and its
conversion, and are marked slow. Output folders of firmware and evaluation: tests/test_hostile_outputs.py.
"""
import fcntl
import json
import shutil
from pathlib import Path

import pytest
from conftest import TINY_MODEL
from hostile_support import (  # noqa: F401 (har: a fixture)
    CLASSES, TINY_RUN, copy_run, crafted_run, har, only_changes, zip_without_code,
)

from train.run_config import RunConfig


@pytest.mark.slow
def test_a_failed_save_leaves_the_previous_model_whole(trained, tmp_path):
    from train.keras_file import load_keras, save_keras

    path = tmp_path / "model.keras"
    shutil.copyfile(trained / "model.keras", path)
    model, before = load_keras(path), path.read_bytes()

    def dies_half_way(target, *args, **kwargs):
        Path(target).write_bytes(b"PK\x03\x04 half")
        raise KeyboardInterrupt  # as a kill would, mid-write

    model.save = dies_half_way
    with pytest.raises(KeyboardInterrupt):
        save_keras(model, path)
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["model.keras"]


# --- conversion outputs (item 9) ------------------------------------------------------------------------

def test_second_concurrent_conversion_to_one_output_is_refused(har, tmp_path):
    run = crafted_run(tmp_path / "run", **{"model.keras": None})
    zip_without_code(run / "model.keras")
    lock = tmp_path / "cwd" / ".m.tflite.lock"
    with open(lock, "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        with only_changes(tmp_path):
            status, err = har("convert", run, "--out", "m.tflite")
    assert status == 2 and "another `har convert`" in err and "--out" in err
    assert sorted(p.name for p in (tmp_path / "cwd").iterdir()) == [".m.tflite.lock"]


def test_a_killed_conversions_staging_folder_is_removed_by_the_next(tmp_path):
    """SIGKILL leaves .m.tflite.staging.*/ (a model and its contract) that nothing had cleaned up; the next
    conversion to that --out, holding its lock, removes it (a link of that name is left alone)."""
    from convert.publish import staging

    stale = tmp_path / ".m.tflite.staging.k1ll3d"
    stale.mkdir()
    (stale / "m.tflite").write_bytes(b"half")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / ".m.tflite.staging.link").symlink_to(elsewhere)
    with staging(tmp_path / "m.tflite") as folder:
        assert folder.name.startswith(".m.tflite.staging.") and not stale.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [".m.tflite.lock", ".m.tflite.staging.link", "elsewhere"]


@pytest.mark.parametrize("out, message", [("folder", "is a folder"), ("m.txt", "must end in .tflite"),
                                          ("run/model.keras", "must end in .tflite")])
def test_bad_output_paths(har, tmp_path, out, message):
    run = crafted_run(tmp_path / "cwd" / "run")
    (tmp_path / "cwd" / "folder").mkdir()
    with only_changes(tmp_path):
        status, err = har("convert", run, "--out", out)
    assert status == 2 and message in err


def test_a_tflm_run_past_its_time_is_a_failed_run_not_a_traceback(tiny_model):
    """run_tflm's contract, (None, None, why) on failure, holds for a child that does not finish in time."""
    import numpy as np

    from convert.tflm_probe import run_tflm

    outputs, arena, why = run_tflm(tiny_model, np.zeros((1, 128, 6), np.int8), 1 << 20, timeout=0.01)
    assert (outputs, arena, why) == (None, None, "no result within 0.01 s")


def test_representative_must_be_positive(har, tmp_path):
    run = crafted_run(tmp_path / "run")
    with only_changes(tmp_path):
        status, err = har("convert", run, "--out", "m.tflite", "--representative", "0")
    assert status == 2 and "--representative" in err


@pytest.mark.slow
def test_failed_conversion_leaves_the_good_model_and_its_report(har, tmp_path, trained, converted, monkeypatch):
    import convert.pipeline

    monkeypatch.setattr(convert.pipeline, "quality_problems", lambda *args: ["int8 accuracy is 9 points below float"])
    out, run = tmp_path / "cwd" / "m.tflite", copy_run(trained, tmp_path)
    for path in converted.parent.glob("m.*"):
        shutil.copyfile(path, out.with_name(path.name))
    good = {p.name: p.read_bytes() for p in out.parent.glob("m.*")}
    with only_changes(tmp_path, "cwd/m.rejected.report.json", "cwd/m.rejected.report.md", "cwd/.m.tflite.lock"):
        status, err = har("convert", run, "--out", "m.tflite")
    assert status == 1 and "m.tflite not written" in err and "m.rejected.report.md" in err
    assert {p.name: p.read_bytes() for p in out.parent.glob("m.*") if "rejected" not in p.name} == good
    assert json.loads(out.with_name("m.rejected.report.json").read_text())["passed"] is False


def _one_activity_recordings(folder: Path, channels: list[str], step_ms: int = 20) -> None:
    """8 subjects' CSV recordings of noise, each one activity, with these channel columns."""
    import numpy as np

    rng = np.random.default_rng(0)
    header = f"timestamp_ms,{','.join(channels)},activity,subject\n"
    folder.mkdir()
    for i, subject in enumerate(["t1", "t2", "t3", "t4", "t5", "t6", "v1", "r1"]):
        rows = rng.normal(0, 0.3, (300, len(channels)))
        lines = "".join(f"{step_ms * k}," + ",".join(f"{v:.4f}" for v in row) + f",{CLASSES[i % 6]},{subject}\n"
                        for k, row in enumerate(rows))
        (folder / f"{subject}.csv").write_text(header + lines)


SIX = ["acc_x[g]", "acc_y[g]", "acc_z[g]", "gyro_x[rad/s]", "gyro_y[rad/s]", "gyro_z[rad/s]"]


@pytest.mark.parametrize("channels, step_ms, message", [
    (SIX[3:] + SIX[:3], 20, "choose them with --channels"),  # had fed gyro as acc, silently
    (SIX, 10, "the data's sample rate is 100 Hz and the model's 50 Hz"),  # had cut 1.28 s windows as 2.56 s
])
def test_stream_evaluation_on_recordings_the_model_cannot_read_is_refused(har, tmp_path, tiny_model, channels,
                                                                        step_ms, message):
    _one_activity_recordings(tmp_path / "cwd" / "data", channels, step_ms)
    with only_changes(tmp_path):
        status, err = har("evaluate-stream", tiny_model, "--out", "stream", "--data", "data", "--format", "csv",
                          "--classes", ",".join(CLASSES), "--test-subjects", "t1,t2,t3,t4,t5,t6")
    assert status == 2 and message in err, err


def test_evaluating_a_model_on_data_at_another_rate_is_refused(har, tmp_path, tiny_model):
    """The model's 128-sample windows are 2.56 s at its 50 Hz: at 100 Hz they had been scored as they came."""
    _one_activity_recordings(tmp_path / "cwd" / "data", SIX, step_ms=10)
    with only_changes(tmp_path):
        status, err = har("evaluate", tiny_model, "--out", "eval", "--data", "data", "--format", "csv",
                          "--classes", ",".join(CLASSES), "--test-subjects", "t1,t2,t3,t4,t5,t6")
    assert status == 2 and "the data's sample rate is 100 Hz and the model's 50 Hz" in err, err


def test_stream_evaluation_without_any_activity_change(har, tmp_path, tiny_model):
    """Every recording holds one activity: no change to time; the report says n/a instead of crashing."""
    _one_activity_recordings(tmp_path / "cwd" / "data", SIX)
    with only_changes(tmp_path, "cwd/stream"):
        status, err = har("evaluate-stream", tiny_model, "--out", "stream", "--data", "data", "--format", "csv",
                          "--classes", ",".join(CLASSES), "--test-subjects", "t1,t2,t3,t4,t5,t6")
    assert status == 0, err
    assert "median n/a" in (tmp_path / "cwd" / "stream" / "stream_report.md").read_text()


# --- relative paths from any working directory (item 4) -------------------------------------------------

@pytest.mark.slow
def test_convert_with_relative_paths_from_another_folder(har, tmp_path, trained):
    copy_run(trained, tmp_path, "cwd/runs/r")
    with only_changes(tmp_path, "cwd/out"):
        status, err = har("convert", "runs/r", "--out", "out/rel.tflite", "--max-drop", "100")
    assert status == 0, err
    written = sorted(p.name for p in (tmp_path / "cwd" / "out").iterdir())
    assert written == [".rel.tflite.lock", "rel.contract.json", "rel.report.json", "rel.report.md", "rel.tflite"]
    assert json.loads((tmp_path / "cwd" / "out" / "rel.report.json").read_text())["tflm_run"]["runs"]


@pytest.mark.slow  # waits on real time: a pty, signals or a full evaluation
def test_evaluate_a_relative_tflite(har, tmp_path):
    shutil.copyfile(TINY_MODEL, tmp_path / "cwd" / "tiny.tflite")
    with only_changes(tmp_path, "cwd/tiny_evaluation"):
        status, err = har("evaluate", "tiny.tflite")
    assert status == 0, err
    assert (tmp_path / "cwd" / "tiny_evaluation" / "report.md").exists()


# --- the model carries its settings; checkpoints (item 11) ----------------------------------------------

@pytest.mark.slow
def test_evaluate_tflite_takes_its_test_subjects_from_the_contract(har, tmp_path, converted):
    shutil.copyfile(converted, tmp_path / "cwd" / "m.tflite")
    with only_changes(tmp_path, "cwd/m_evaluation"):
        status, err = har("evaluate", "m.tflite")
    assert status == 0, err
    metrics = json.loads((tmp_path / "cwd" / "m_evaluation" / "metrics.json").read_text())
    assert metrics["test_subjects"] == ["2", "4", "9"]


@pytest.mark.slow
def test_evaluate_the_best_checkpoint(har, tmp_path, trained):
    run = copy_run(trained, tmp_path)
    with only_changes(tmp_path, "run/evaluation-best"):
        status, err = har("evaluate", run, "--checkpoint", "best")
    assert status == 0, err
    assert "best checkpoint" in (run / "evaluation-best" / "report.md").read_text()


@pytest.mark.parametrize("args, message", [(["--checkpoint", "latest"], "invalid choice"),
                                           (["--test-subjects", "3"], "--test-subjects"),
                                           (["--out", "x"], "--out")])
def test_evaluate_run_options_that_do_not_apply(har, tmp_path, args, message):
    run = crafted_run(tmp_path / "run")
    with only_changes(tmp_path):
        status, err = har("evaluate", run, *args)
    assert status == 2 and message in err


# --- the shared tiny run (slow) --------------------------------------------------------------------------

@pytest.mark.slow
def test_a_conversion_stopped_by_sigterm_leaves_no_staging_folder(tmp_path, trained):
    import signal
    import subprocess
    import sys
    import time

    from conftest import REPO

    worker = subprocess.Popen([sys.executable, str(REPO / "har.py"), "convert", str(trained), "--out", "m.tflite"],
                              cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not list(tmp_path.glob(".m.tflite.staging.*")) and time.time() < deadline and worker.poll() is None:
        time.sleep(0.02)
    assert worker.poll() is None, "the conversion ended before it could be stopped"
    assert list(tmp_path.glob(".m.tflite.staging.*")), "no staging folder was made within 120 s"
    worker.send_signal(signal.SIGTERM)
    err = worker.communicate(timeout=120)[1]
    assert worker.returncode == 130 and "interrupted" in err and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == [".m.tflite.lock"]


@pytest.fixture(scope="session")
def trained(tmp_path_factory) -> Path:
    from train.fit import train_run

    return train_run(RunConfig.from_dict(TINY_RUN), "tiny", tmp_path_factory.mktemp("hostile") / "runs")


@pytest.fixture(scope="session")
def converted(trained) -> Path:
    from convert.pipeline import convert_run

    out = trained.parent.parent / "converted" / "m.tflite"
    convert_run(trained, out, max_drop=100, max_class_drop=100)
    return out
