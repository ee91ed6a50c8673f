"""Hostile run folders, recipes and options met by training, conversion and search: refused with a message
naming the file or option before anything is written (no TensorFlow: crafted run folders and options)."""
import json
import os

import pytest
from hostile_support import TINY_RUN, crafted_run, har  # noqa: F401 (har: a fixture)

from train.run import RunError, check_folder
from train.run_config import RunConfig

RESUMABLE = {"training.json": None, "backup/chief/checkpoint": ""}  # interrupted: `har train` would resume it


@pytest.mark.parametrize("odd", ["checkpoints", "history.csv", "members", "logs/validation_images"])
def test_a_resumed_run_never_writes_through_a_link(tmp_path, odd):
    """A link in place of checkpoints/ or members/ had had best.keras or two members' runs written outside."""
    run = crafted_run(tmp_path / "runs" / "r", **RESUMABLE)
    outside = tmp_path / "outside"
    outside.mkdir()
    (run / odd).parent.mkdir(parents=True, exist_ok=True)
    (run / odd).symlink_to(outside)
    config = RunConfig.from_dict(TINY_RUN).to_dict()
    with pytest.raises(RunError, match=f"{run / odd}: is a link or not a plain file or folder"):
        check_folder(run, config, overwrite=True)
    (run / odd).unlink()
    os.mkfifo(run / odd)
    with pytest.raises(RunError, match="is a link or not a plain file or folder"):
        check_folder(run, config, overwrite=False)
    (run / odd).unlink()
    assert check_folder(run, config, overwrite=False) == "resume" and not any(outside.iterdir())


@pytest.mark.parametrize("content, message", [("[]", "not a best-epoch record"),
                                              ('{"epoch": 1, "val_score": 1' + "0" * 400 + '}', "not a best-epoch record"), ('{"epoch": 0, "val_score": 1}',
                                              "not a best-epoch record"), ("{", "not JSON"), (None, "not a regular file")])
def test_a_crafted_best_epoch_record_is_refused(tmp_path, content, message):
    """A list had been a TypeError traceback on resume, a FIFO a wait for ever."""
    from train.run import best_record

    path = tmp_path / "best.json"
    os.mkfifo(path) if content is None else path.write_text(content)
    with pytest.raises(RunError, match=message):
        best_record(path)
    path.unlink()
    assert best_record(path) is None
    path.write_text(json.dumps({"epoch": 7, "val_score": 0.9}))
    assert best_record(path) == {"epoch": 7, "val_score": 0.9}


@pytest.mark.parametrize("option", ["--max-drop=nan", "--max-class-drop=-1", "--max-mae-increase=inf"])
def test_a_guard_limit_that_would_switch_the_guard_off_is_refused(har, tmp_path, option):
    """NaN had passed every drop (no drop is above NaN) and written NaN into the report's JSON."""
    run = crafted_run(tmp_path / "r")
    status, err = har("convert", run, "--out", tmp_path / "m.tflite", option)
    assert status == 2 and f"argument {option.split('=')[0]}" in err and "finite number >= 0" in err
    assert not (tmp_path / "m.tflite").exists()


@pytest.mark.parametrize("setting, message", [
    ("model.filters=[1e308]", "layer sizes must be whole numbers from 1 to 4096"),  # had been an OverflowError
    ("model.kernels=[99999999]", "layer sizes must be whole numbers"),  # a ResourceExhaustedError
    ("model.dilation=99999999999999999999", "layer sizes must be whole numbers"),
    ("train.batch_size=99999999999999999999", "batch_size = 99999999999999999999: must be from 1 to 65536"),
    ("train.learning_rate=1e308", "learning_rate = 1e+308: must be above 0 and at most 1"),
    ("train.seed=4294967296", "seed = 4294967296: must be below 2\\*\\*32"),
])
def test_recipe_values_no_model_can_take_are_refused_before_a_run_folder_exists(har, tmp_path, setting, message):
    status, err = har("train", "--runs", tmp_path / "runs", "--name", "k", "--set", setting)
    assert status == 2 and message.replace("\\", "") in err.replace("\\", "") and not (tmp_path / "runs" / "k").exists()


@pytest.mark.parametrize("option, message", [("--workers=99999", "--workers 99999: give from 1 to"),
                                             ("--seed=-1", "--seed -1: give from 0 to")])
def test_search_options_beyond_reason_are_refused(har, tmp_path, option, message):
    """99,999 workers had started 66 TensorFlow processes within 5 s on a 2-core machine."""
    status, err = har("search", "--runs", tmp_path / "runs", "--name", "s", option)
    assert status == 2 and message in err and not (tmp_path / "runs" / "search-s").exists()
