"""Hostile inputs to the run folder, training and evaluation (issue 14), by class: code from data, run
names and deletion, unfinished runs, damaged or crafted run folders and model paths.

Each case runs the real command and asserts its exit status, that no traceback is printed, and that nothing
outside the intended output was written or deleted (tests/hostile_support.py).
"""
import json
import os

import pytest
from conftest import TINY_MODEL
from hostile_support import crafted_run, har, hdf5_with_lambda, only_changes, zip_with_lambda, zip_without_code  # noqa: F401 (har: a fixture)

from device_runtime.contract import contract_from_model


# --- code from data (issue 14 item 1) ------------------------------------------------------------------

@pytest.mark.parametrize("command", [["evaluate"], ["convert", "--out", "m.tflite"]])
def test_hdf5_model_with_lambda_is_refused(har, tmp_path, command):
    run = crafted_run(tmp_path / "run")
    hdf5_with_lambda(run / "model.keras", tmp_path / "pwned")
    with only_changes(tmp_path):
        status, err = har(command[0], run, *command[1:])
    assert status == 2 and "HDF5" in err and "model.keras" in err
    assert not (tmp_path / "pwned").exists()


def test_zip_model_with_lambda_layer_is_refused(har, tmp_path):
    run = crafted_run(tmp_path / "run")
    zip_with_lambda(run / "model.keras")
    with only_changes(tmp_path):
        status, err = har("evaluate", run)
    assert status == 2 and "Lambda" in err


@pytest.mark.parametrize("layer, named", [
    ({"class_name": "TFOpLambda", "config": {"function": "io.gfile.rmtree"}}, "'TFOpLambda'"),
    ({"class_name": "Dense", "registered_name": "Lambda", "config": {}}, "registered name 'Lambda'"),
    ({"class_name": "Dense", "module": "os", "config": {}}, "module 'os'")])
def test_a_layer_that_har_train_never_builds_is_refused_before_keras_reads_it(har, tmp_path, layer, named):
    """A TFOpLambda calls the TensorFlow function its config names while the model loads, safe_mode or not:
    tf.io.gfile.rmtree deleted a folder, tf.io.write_file wrote a script."""
    run = crafted_run(tmp_path / "run")
    zip_without_code(run / "model.keras", [layer])
    with only_changes(tmp_path):
        status, err = har("evaluate", run)
    assert status == 2 and named in err and "never builds" in err, err


def test_hdf5_best_checkpoint_is_refused(har, tmp_path):
    run = crafted_run(tmp_path / "run")
    (run / "checkpoints").mkdir()
    hdf5_with_lambda(run / "checkpoints" / "best.keras", tmp_path / "pwned")
    with only_changes(tmp_path):
        status, err = har("convert", run, "--checkpoint", "best", "--out", "m.tflite")
    assert status == 2 and "best.keras" in err and "HDF5" in err
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize("content", [b"PK\x03\x04 truncated zip", b"\x00" * 64, b""])
def test_damaged_model_keras_is_a_clear_error(har, tmp_path, content):
    run = crafted_run(tmp_path / "run", **{"model.keras": content})
    with only_changes(tmp_path):
        status, err = har("evaluate", run)
    assert status == 2 and "model.keras" in err and "retrain" in err


def test_model_keras_that_is_a_folder(har, tmp_path):
    run = crafted_run(tmp_path / "run", **{"model.keras": None})
    (run / "model.keras").mkdir()
    with only_changes(tmp_path):
        status, err = har("evaluate", run / "model.keras")
    assert status == 2 and "not a file" in err


@pytest.mark.slow
def test_real_tf_keras_hdf5_lambda_would_run_but_is_refused(har, tmp_path):
    """The attack is real: TensorFlow's HDF5 loader runs the Lambda's code despite safe_mode."""
    from train.models import keras

    marker = tmp_path / "pwned"
    inputs = keras.Input((128, 6))
    evil = eval(f"lambda x: (open({str(marker)!r}, 'w').write('ran'), x)[1]")
    outputs = keras.layers.Dense(6, activation="softmax")(keras.layers.Flatten()(keras.layers.Lambda(evil)(inputs)))
    run = crafted_run(tmp_path / "run", **{"model.keras": None})
    keras.Model(inputs, outputs).save(run / "model.h5")
    keras.models.load_model(run / "model.h5", safe_mode=True)
    assert marker.exists(), "control: the legacy loader should have run the code"
    marker.unlink()
    (run / "model.h5").rename(run / "model.keras")
    with only_changes(tmp_path):
        for command in (["evaluate", run], ["convert", run, "--out", "m.tflite"]):
            status, err = har(*command)
            assert status == 2 and "HDF5" in err
    assert not marker.exists()


# --- run names and deletion (item 2) ---------------------------------------------------------------------

@pytest.mark.parametrize("name", ["../x", "../../x", "a/b", "..", ".", "", "/tmp/x", ".hidden", "x\0y"])
def test_run_name_must_stay_inside_runs(har, tmp_path, name):
    with only_changes(tmp_path):
        status, err = har("train", "--name", name, "--runs", "runs", "--epochs", "1")
    assert status == 2 and "--name" in err and "plain folder name" in err


def test_runs_that_is_a_file(har, tmp_path):
    (tmp_path / "cwd" / "runs").write_text("not a folder")
    with only_changes(tmp_path):
        status, err = har("train", "--name", "x", "--runs", "runs", "--epochs", "1")
    assert status == 2 and "--runs" in err and "not a folder" in err


@pytest.mark.parametrize("overwrite", [[], ["--overwrite"]])
def test_folder_not_made_by_har_train_is_never_touched(har, tmp_path, overwrite):
    victim = tmp_path / "cwd" / "runs" / "precious"
    victim.mkdir(parents=True)
    (victim / "config.json").write_text("{}")
    (victim / "thesis.tex").write_text("years of work")
    with only_changes(tmp_path):
        status, err = har("train", "--name", "precious", "--runs", "runs", "--epochs", "1", *overwrite)
    assert status == 2 and "not made by `har train`" in err


def test_run_folder_that_is_a_symlink_is_refused(har, tmp_path):
    target = tmp_path / "elsewhere"
    crafted_run(target)
    (tmp_path / "cwd" / "runs").mkdir()
    (tmp_path / "cwd" / "runs" / "link").symlink_to(target)
    with only_changes(tmp_path):
        status, err = har("train", "--name", "link", "--runs", "runs", "--epochs", "1", "--overwrite")
    assert status == 2 and "not a plain folder" in err


def test_finished_run_is_not_replaced_without_overwrite(har, tmp_path):
    crafted_run(tmp_path / "cwd" / "runs" / "done")
    with only_changes(tmp_path):
        status, err = har("train", "--name", "done", "--runs", "runs", "--epochs", "1")
    assert status == 2 and "finished run" in err and "--overwrite" in err


@pytest.mark.slow
def test_overwrite_checks_the_data_before_deleting(har, tmp_path):
    crafted_run(tmp_path / "cwd" / "runs" / "done")
    with only_changes(tmp_path):
        status, err = har("train", "--name", "done", "--runs", "runs", "--epochs", "1", "--overwrite",
                          "--data", tmp_path / "missing", "--format", "csv")
    assert status == 2 and "missing" in err


# --- half-written models, finished runs (item 6) ---------------------------------------------------------

def test_run_without_its_finished_marker_is_not_finished(har, tmp_path):
    run = crafted_run(tmp_path / "run", **{"training.json": None})
    with only_changes(tmp_path):
        for command in (["evaluate", run], ["convert", run, "--out", "m.tflite"]):
            status, err = har(*command)
            assert status == 2 and "has not finished" in err and "resume" in err


@pytest.mark.parametrize("summary", ["[1, 2", '{"fit_seconds": NaN, "best_epoch": 0, "epochs": 1, "final_model": "last"}',
                                     '{"fit_seconds": 1e400, "best_epoch": 0, "epochs": 1, "final_model": "last"}',
                                     '{"fit_seconds": 1, "best_epoch": true, "epochs": 1, "final_model": "last"}',
                                     '{"fit_seconds": 1, "best_epoch": -1, "epochs": 1, "final_model": "last"}',
                                     '{"fit_seconds": 1' + "0" * 400 + ', "best_epoch": 0, "epochs": 1, "final_model": "last"}'])
def test_damaged_finished_marker(har, tmp_path, summary):
    """NaN had been written on into metrics.json (not JSON), `true` shown as the best epoch."""
    run = crafted_run(tmp_path / "run", **{"training.json": summary})
    with only_changes(tmp_path):
        status, err = har("evaluate", run)
    assert status == 2 and "training.json: damaged" in err


# --- damaged or crafted run folders and model paths (item 8) --------------------------------------------

@pytest.mark.parametrize("text", ["data = 5\n", 'data = "ab"\n'])
def test_a_config_file_whose_section_is_not_a_table_is_refused_naming_it(har, tmp_path, text):
    (tmp_path / "cwd" / "c.toml").write_text(text)  # 5 had been a TypeError traceback
    status, err = har("train", "--config", "c.toml")
    assert status == 2 and "c.toml: 'data' must be a table" in err, err


@pytest.mark.parametrize("config, message", [
    ("{not json", "not valid JSON"),
    ("[1, 2]", "a JSON object"),
    ("null", "a JSON object"),
    ('{"data": [1]}', "a JSON object"),
    ("[" * 100_000 + "]" * 100_000, "not valid JSON"),
    ('{"train": {"epochs": "many"}}', "epochs"),
    ('{"train": {"batch_size": 0}}', "batch_size"),
    ('{"model": {"family": "rnn"}}', "family"),
    ('{"train": {"augment_rotation": 1e9}}', "augment_rotation"),
    ('{"train": {"augment_rotation": -5}}', "augment_rotation"),
    ('{"train": {"augment_rotation_classes": {"WALKING": 1e9}}}', "augment_rotation_classes"),
    ('{"train": {"augment_speed": 0.9}}', "augment_speed"),
    ('{"train": {"augment_speed": -0.1}}', "augment_speed"),
    ('{"train": {"augment_warp": 0.9}}', "augment_warp"),
    ('{"data": {"seed": 1' + "0" * 400 + '}}', "seed"),  # beyond any float: had raised OverflowError
    ('{"data": {"window": 1' + "0" * 400 + '}}', "window"),
    ('{"data": {"min_purity": 0}}', "min_purity"),
    ('{"train": {"augment_rotation_classes": {"WALKING": 1' + "0" * 400 + '}}}', "augment_rotation_classes"),
    ('{"train": {"distill": 9}}', "distill"),
    ('{"model": {"members": 1e9}}', "members"),
    ('{"model": {"members": 2}, "train": {"distill": 2}}', "members"),
])
def test_garbage_config_json(har, tmp_path, config, message):
    run = crafted_run(tmp_path / "run", **{"config.json": config})
    with only_changes(tmp_path):
        status, err = har("evaluate", run)
    assert status == 2 and "config.json" in err and message in err


@pytest.mark.parametrize("change, message", [
    ({"norm_std": [0.0] * 6}, "norm_std"),
    ({"window": "128"}, "window"),
    ({"version": 99}, "version"),
    ({"fine_motion": {"channels": ["gyro_x); system(\"rm -rf /\""], "scale": [1.0], "limit": 8.0}}, "fine_motion.channels"),
    ({"vertical": {"channels": ["acc_x", "acc_y", "acc_z"], "mean": [0.0, 0.0], "std": [1.0, "0); abort("]}}, "vertical.std"),
    ({"fine_motion": {"channels": ["gyro_x"], "scale": [-1.0], "limit": 8.0}}, "fine_motion.scale"),
])
def test_garbage_contract_json(har, tmp_path, change, message):
    contract = json.loads(contract_from_model(TINY_MODEL.read_bytes()).to_json()) | change
    run = crafted_run(tmp_path / "run", **{"contract.json": json.dumps(contract)})
    with only_changes(tmp_path):
        status, err = har("convert", run, "--out", "m.tflite")
    assert status == 2 and "contract.json" in err and message in err


@pytest.mark.parametrize("missing", ["config.json", "contract.json"])
def test_run_folder_missing_files(har, tmp_path, missing):
    run = crafted_run(tmp_path / "run", **{missing: None})
    with only_changes(tmp_path):
        status, err = har("evaluate", run)
    assert status == 2 and missing in err and "har train" in err


@pytest.mark.parametrize("path, message", [("nowhere", "no such run folder"), ("notes.txt", "not a run folder"),
                                           ("folder.tflite", "is a folder"), ("junk.tflite", "not a TensorFlow Lite")])
def test_bad_model_paths(har, tmp_path, path, message):
    (tmp_path / "cwd" / "notes.txt").write_text("hello")
    (tmp_path / "cwd" / "folder.tflite").mkdir()
    (tmp_path / "cwd" / "junk.tflite").write_bytes(os.urandom(64))
    with only_changes(tmp_path):
        status, err = har("evaluate", path)
    assert status == 2 and message in err


@pytest.mark.parametrize("kind, message", [
    ("deep", "c.toml: nested too deeply to be a config file"), ("fifo", "c.toml: not a regular file"),
    ("folder", "c.toml: is a folder, not a file"), ("latin-1", "c.toml: not UTF-8 text")])
def test_a_config_file_that_is_not_a_small_toml_file(har, tmp_path, kind, message):
    """A FIFO was waited on for ever, /dev/zero read until memory ran out, deep nesting a RecursionError."""
    config = tmp_path / "c.toml"
    if kind == "fifo":
        os.mkfifo(config)
    elif kind == "folder":
        config.mkdir()
    else:
        config.write_bytes(b"[data]\nclasses = " + b"[" * 5000 + b"]" * 5000 if kind == "deep" else b"# caf\xe9\n")
    for args, words in ((["--config", config], [message]), (["--config", "/dev/zero"], ["/dev/zero: not a regular file"]),
                        (["--set", "data.classes=" + "[" * 5000], ["--set value '[[[", "nested too deeply"])):
        status, err = har("train", "--runs", tmp_path / "runs", *args)
        assert status == 2 and all(word in err for word in words), err
    assert not (tmp_path / "runs").exists()


def test_reports_are_never_written_through_a_link_in_the_run_folder(tmp_path):
    """A run whose evaluation/ linked elsewhere had `har evaluate` replace the report.md found there."""
    from train.evaluate import evaluation_folder
    from train.run import RunError

    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "evaluation").symlink_to(tmp_path / "elsewhere")
    (tmp_path / "run" / "evaluation-best").write_text("a file")
    for checkpoint in ("final", "best"):
        with pytest.raises(RunError, match="a link or not a folder"):
            evaluation_folder(tmp_path / "run", checkpoint)


def test_a_fifo_in_place_of_the_conversion_lock_is_refused_not_waited_on(tmp_path):
    from convert.publish import OutputBusy, staging

    os.mkfifo(tmp_path / ".m.tflite.lock")
    with pytest.raises(OutputBusy, match="its lock .*.m.tflite.lock is not a regular file"):
        with staging(tmp_path / "m.tflite"):
            pass
    assert sorted(p.name for p in tmp_path.iterdir()) == [".m.tflite.lock"]
