"""`har search`'s options, checked before anything heavy loads: budgets, durations, config files written
back, channel selection, and refusals that exit 2 and write nothing."""
import tomllib

import numpy as np
import pytest

from search.budget import over_budget, parse_budget
from search.cli import parse_duration
from train.config import dump_config
from train.data.dataset import DataConfig
from train.data.recording import DataError, Recording, select_channels
from train.run_config import RunConfig


def test_budgets_parse_bytes_in_binary_kilobytes_and_counts_in_thousands():
    assert parse_budget("flash=20KB, arena=8KiB,instructions=1M,macs=250K") == {
        "flash": 20480, "arena": 8192, "instructions": 1_000_000, "macs": 250_000}
    assert parse_budget("flash=1.5MB") == {"flash": 1572864}
    assert parse_budget("") == {}


@pytest.mark.parametrize("text", ["flash", "flash=", "flash=-1KB", "flash=0", "flash=20GB", "instructions=1KB",
                                  "ram=8KB", "flash=1KB,flash=2KB", "flash=1e3", "macs=0.5", "flash=0.0001KB"])
def test_malformed_budgets_name_the_part(text):
    with pytest.raises(ValueError, match="--budget '"):
        parse_budget(text)


def test_a_recipe_trained_by_another_trial_gives_its_figures_to_this_one():
    """What a trial of a recipe finds once it holds the recipe's lock (or before): the finished trial's."""
    import optuna

    from search.study import DIRECTIONS
    from search.trial import repeated

    study = optuna.create_study(directions=DIRECTIONS)
    study.add_trial(optuna.trial.create_trial(values=[0.9, 1000.0, 5.0], user_attrs={"key": "k", "cost": {"a": 1},
                                                                                     "cv": {"b": 2}}))
    other, same = study.ask(), study.ask()
    assert repeated(other, "k2") is None and "repeat_of" not in other.user_attrs
    assert repeated(same, "k") == (0.9, 1000.0, 5.0)
    assert same.user_attrs == {"cost": {"a": 1}, "cv": {"b": 2}, "repeat_of": 0}


def test_over_budget_lists_each_exceeded_limit_and_skips_what_was_not_measured():
    budget = parse_budget("flash=20KB,arena=8KB,instructions=1M")
    cost = {"flash_bytes": 30_000, "arena_bytes": 8192, "instructions": None}
    assert over_budget(cost, budget) == ["flash 30,000 > 20,480"]
    assert over_budget({"flash_bytes": 1, "arena_bytes": 1, "instructions": 2_000_000}, budget) == [
        "instructions 2,000,000 > 1,000,000"]


def test_durations():
    assert [parse_duration(t) for t in ("90s", "30m", "2h", "45", None)] == [90, 1800, 7200, 45, None]
    for bad in ("0m", "soon", "-5m", "1d"):
        with pytest.raises(ValueError, match="--time"):
            parse_duration(bad)


def test_a_written_config_reads_back_to_the_same_recipe():
    config = RunConfig.from_dict({"data": {"channels": ["acc_x", "acc_y"], "rename": {'odd "name"\\\n': "walk"},
                                           "window": "1.28s"},
                                  "model": {"family": "cnn", "filters": [8, 12], "kernels": [5, 5], "separable": True},
                                  "train": {"epochs": 7, "class_weights": {"walk": 2.5}}}).to_dict()
    text = dump_config(config, "exported\nby a test")
    assert text.startswith("# exported\n# by a test\n")
    assert RunConfig.from_dict(tomllib.loads(text)).to_dict() == config


def _recording(channels=("acc_x", "acc_y", "acc_z", "gyro_x")) -> Recording:
    samples = np.arange(5 * len(channels), dtype=np.float32).reshape(5, len(channels))
    return Recording("r.csv", "1", 50.0, channels, ("g", "g", "g", "rad/s")[:len(channels)], samples,
                     np.zeros(5, np.int16), ("walk",))


def test_channels_keep_the_named_columns_in_the_named_order():
    picked = select_channels([_recording()], ["gyro_x", "acc_x"], "data")[0]
    assert picked.channels == ("gyro_x", "acc_x") and picked.units == ("rad/s", "g")
    assert picked.samples.tolist() == _recording().samples[:, [3, 0]].tolist()
    recordings = [_recording()]
    assert select_channels(recordings, None, "data") is recordings


@pytest.mark.parametrize("names", [["mag_x"], [], ["acc_x", "acc_x"]])
def test_unknown_empty_or_repeated_channels_are_refused_naming_the_option(names):
    with pytest.raises(DataError, match="field 'channels'"):
        select_channels([_recording()], names, "data")
    assert DataConfig.from_dict({"channels": ["acc_x"]}).channels == ["acc_x"]


@pytest.mark.parametrize("options, message", [
    (["--budget", "flash=lots"], "--budget 'flash=lots'"),
    (["--families", "cnn,transformer"], "--families"),
    (["--cv", "1"], "--cv 1"),
    (["--cv", "99"], "--cv 99: needs 2 to 21 folds"),
    (["--time", "forever"], "--time"),
    (["--name", "../escape"], "name"),
    (["--storage", "nonsense"], "--storage nonsense: Optuna cannot open it"),
    (["--storage", "postgresql://nobody@localhost:1/har"], "Optuna cannot open it"),
    (["--report"], "no search named 'default'"),
    (["--export", "0"], "no search named 'default'"),
])
def test_bad_options_exit_2_before_anything_is_written(options, message, tmp_path, capsys):
    from har import main

    assert main(["search", "--runs", str(tmp_path), *options]) == 2
    assert message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("attrs, message", [
    ({"recipe": {"model": {"family": "transformer"}, "data": {"path": "/etc"}}, "cv": {}}, "[model] family 'transformer'"),
    ({"cv": {"int8_macro_f1": "high"}}, "the study holds no usable recipe"),
])
def test_a_crafted_study_cannot_export_a_recipe_that_fails_validation(attrs, message, tmp_path, capsys):
    import optuna

    from har import main
    from search.study import DIRECTIONS

    folder = tmp_path / "search-crafted"
    folder.mkdir()
    study = optuna.create_study(study_name="crafted", storage=f"sqlite:///{folder / 'study.db'}", directions=DIRECTIONS)
    study.add_trial(optuna.trial.create_trial(values=[0.9, 1.0, 1.0], user_attrs=attrs))
    assert main(["search", "--runs", str(tmp_path), "--name", "crafted", "--export", "0"]) == 2
    assert message in capsys.readouterr().err
    assert not [p for p in folder.iterdir() if p.name.startswith(("trial-", "export-"))]


def test_an_instructions_budget_without_the_arm_toolchain_is_refused_up_front(tmp_path, monkeypatch, capsys):
    from har import main

    (tmp_path / "tflm" / "tflm" / "tensorflow" / "lite" / "micro").mkdir(parents=True)  # a tree, but no tools
    monkeypatch.setenv("TFLM_ROOT", str(tmp_path / "tflm"))
    monkeypatch.setenv("PATH", str(tmp_path / "nothing-here"))
    assert main(["search", "--runs", str(tmp_path / "runs"), "--budget", "flash=20KB,instructions=1M"]) == 2
    error = capsys.readouterr().err
    assert "an instructions budget" in error and "qemu-system-arm" in error and "macs=N" in error
    assert not (tmp_path / "runs").exists()


def test_a_run_of_failed_trials_is_noticed_with_the_last_reason():
    """Failed trials do not count toward --trials: without this stop an error every recipe meets loops forever."""
    import optuna

    from search.study import DIRECTIONS, FAILURES_IN_A_ROW, failing

    study = optuna.create_study(directions=DIRECTIONS)
    study.add_trial(optuna.trial.create_trial(values=[0.9, 1.0, 1.0]))
    for i in range(FAILURES_IN_A_ROW - 1):
        study.add_trial(optuna.trial.create_trial(state=optuna.trial.TrialState.FAIL, user_attrs={"failed_because": f"E{i}"}))
    assert failing(study) is None  # one short: the completed trial is among the latest
    study.add_trial(optuna.trial.create_trial(state=optuna.trial.TrialState.FAIL, user_attrs={"failed_because": "last"}))
    assert failing(study) == "last"


def test_a_run_made_before_a_setting_existed_is_still_the_same_recipe(tmp_path):
    """Resuming `har tune`, `har train` or a search must not refuse runs made before a setting was added."""
    import json

    from train.run import stored_recipe

    current = RunConfig.from_dict({})
    older = current.to_dict()
    del older["data"]["scaling"]
    (tmp_path / "config.json").write_text(json.dumps(older))
    assert stored_recipe(tmp_path) == json.loads(json.dumps(current.to_dict()))
    older["data"]["window"] = "1.28s"
    (tmp_path / "config.json").write_text(json.dumps(older))
    assert stored_recipe(tmp_path) != json.loads(json.dumps(current.to_dict()))
    (tmp_path / "config.json").write_text('{"model": {"family": "transformer"}}')
    assert stored_recipe(tmp_path) is None
