"""Hostile stored results: what `har search` and `har tune` read back from their own folders (a study
database, a cached score) is data, and a crafted or damaged one gives a report or a message, never a
traceback; and a tune folder that is not ours is neither written into nor read through a link.

Each case runs the real command from tests/hostile_support.py's `har` fixture (exit status, no traceback).
"""
import argparse
import json
import os
import signal
import sqlite3

import pytest
from hostile_support import har, only_changes  # noqa: F401 (har: a fixture)


def _crafted_study(runs, settings, trials: list[dict]):
    """RUNS/search-x/study.db with finished trials carrying `trials`' user attributes as given."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    folder = runs / "search-x"
    folder.mkdir(parents=True)
    study = optuna.create_study(study_name="x", storage=f"sqlite:///{folder / 'study.db'}",
                                directions=["maximize", "minimize", "minimize"])
    study.set_user_attr("settings", settings)
    for attrs in trials:
        trial = study.ask()
        trial.suggest_categorical("family", ["mlp"])
        for key, value in attrs.items():
            trial.set_user_attr(key, value)
        study.tell(trial, [0.9, 10, 5])
    return folder


WRONG_SHAPES = [
    {"cv": [1, 2], "cost": "big", "pruned_because": "not a list", "failed_because": 5, "seconds": "x"},
    {"cv": {"int8_macro_f1": 0.9, "int8_macro_f1_std": 0.1, "int8_accuracy": "high"},
     "cost": {"flash_bytes": 10, "arena_bytes": 10, "macs": 5, "instructions": "many"}},
    {"cv": {"int8_macro_f1": 0.9, "int8_macro_f1_std": 0.1, "int8_accuracy": 0.9},
     "cost": {"flash_bytes": True, "arena_bytes": 10, "macs": 5}},
]


def test_a_study_with_values_of_the_wrong_shape_is_reported_without_them(har, tmp_path):
    folder = _crafted_study(tmp_path / "runs", {"budget": [1], "cv": "$x$"}, WRONG_SHAPES)
    with only_changes(tmp_path, "runs/search-x", "cwd"):
        status, err = har("search", "--runs", tmp_path / "runs", "--name", "x", "--report")
    assert status == 0, err
    report = json.loads((folder / "trials.json").read_text())
    assert report["front"] == [] and len(report["trials"]) == 3  # no trial has figures that can be trusted
    assert all(t["int8_macro_f1"] is None or t["trial"] > 0 for t in report["trials"])
    assert "Budget: none" in (folder / "pareto.md").read_text()


def test_a_studys_crafted_settings_add_no_markdown_to_the_report(har, tmp_path):
    """cv, epochs, compute and budget keys are printed in pareto.md's prose: only the shapes `har search`
    writes reach it, so a crafted study.db cannot add headings or links."""
    injected = "3\n\n# Owned\n[click](http://x)"
    folder = _crafted_study(tmp_path / "runs", {"cv": injected, "epochs": injected, "compute": injected,
                                                "budget": {injected: 5, "flash": 20480}}, [])
    with only_changes(tmp_path, "runs/search-x", "cwd"):
        status, err = har("search", "--runs", tmp_path / "runs", "--name", "x", "--report")
    assert status == 0, err
    text = (folder / "pareto.md").read_text()
    assert "Owned" not in text and "click" not in text and "?-fold" in text and "flash 20 KB" in text


def test_exporting_a_trial_whose_figures_are_damaged_is_refused(har, tmp_path):
    from train.run_config import RunConfig

    _crafted_study(tmp_path / "runs", {}, [{**WRONG_SHAPES[0], "recipe": RunConfig.from_dict({}).to_dict()}])
    with only_changes(tmp_path, "runs/search-x", "cwd"):
        status, err = har("search", "--runs", tmp_path / "runs", "--name", "x", "--export", "0")
    assert status == 2 and "--export 0" in err and "damaged" in err


def test_a_study_whose_settings_are_not_a_table_is_refused_by_a_new_search(har, tmp_path):
    _crafted_study(tmp_path / "runs", ["not", "a", "table"], [])
    status, err = har("search", "--runs", tmp_path / "runs", "--name", "x", "--trials", "1", "--families", "mlp",
                      "--budget", "macs=1")
    assert status == 2 and "settings are damaged" in err


# --- har tune: its folder, its fold runs and its kept scores -------------------------------------------

TUNE = ["tune", "--cv", "2", "--set", "train.epochs=1", "--set", "model.family=mlp", "--name", "x"]


def test_a_tune_folder_that_is_a_link_or_not_ours_is_refused(har, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "tune-x").symlink_to(outside)
    (tmp_path / "runs" / "tune-y").mkdir()
    (tmp_path / "runs" / "tune-y" / "notes.txt").write_text("mine")
    with only_changes(tmp_path, "cwd"):
        status, err = har(*TUNE, "--runs", tmp_path / "runs")
        assert status == 2 and "tune-x: exists and is not a plain folder" in err
        status, err = har(*TUNE[:-1], "y", "--runs", tmp_path / "runs")
        assert status == 2 and "not made by `har tune`" in err and "'notes.txt'" in err


def test_a_fold_run_that_is_a_link_is_neither_read_nor_scored_through(har, tmp_path):
    from hostile_support import crafted_run

    folder = tmp_path / "runs" / "tune-x"
    folder.mkdir(parents=True)
    (folder / ".har-tune").write_text("")
    (folder / "fold1").symlink_to(crafted_run(tmp_path / "elsewhere"))
    with only_changes(tmp_path, "cwd", "runs/tune-x/.har-tune"):
        status, err = har(*TUNE, "--runs", tmp_path / "runs")
    assert status == 2 and "fold1: exists and is not a plain folder" in err


@pytest.mark.parametrize("result", [
    {"accuracy": 0.9, "macro_f1": 0.9, "subjects": ["1"], "per_subject": [], "robustness": {}},
    "fifo", "folder",
    {"accuracy": 0.9, "macro_f1": "0.9", "subjects": ["1"], "per_subject": {"1": {"accuracy": 1.0}}, "robustness": {}},
    {"accuracy": 0.9, "macro_f1": 0.9, "subjects": ["1"], "per_subject": {"1": {"accuracy": 1.0}},
     "robustness": {"worst_drop_points": float("nan")}},
    {"accuracy": 0.9, "macro_f1": 0.9, "subjects": [1], "per_subject": {"1": {"accuracy": 1.0}}, "robustness": {}},
    {"accuracy": 0.9, "macro_f1": 0.9, "subjects": ["1", "2"], "per_subject": {"1": {"accuracy": 1.0}}, "robustness": {}},
    {"accuracy": 0.9, "macro_f1": 0.9, "subjects": ["1", "2"], "robustness": {},
     "per_subject": {"1": {"accuracy": 1.0}, "2": {"accuracy": float("nan")}}},
    {"accuracy": 10 ** 400, "macro_f1": 0.9, "subjects": ["1"], "per_subject": {"1": {"accuracy": 1.0}}, "robustness": {}},
    {"macro_f1": 0.9, "accuracy": 0.9, "subjects": ["1"], "per_subject": {"1": {"accuracy": 1.0}}, "robustness": {},
     "windows": None},
    {"accuracy": 0.9, "macro_f1": 0.9, "subjects": ["1"], "per_subject": {"1": {"accuracy": 1.0}}, "fold": float("nan"),
     "robustness": {"zzz": float("inf")}},  # had reached cv.json, which NaN and Infinity make invalid JSON
])
def test_a_kept_score_of_the_wrong_shape_is_not_trusted(tmp_path, monkeypatch, result):
    from hostile_support import crafted_run

    import train.tune
    from train.tune import _score_key, score_split

    run = crafted_run(tmp_path / "run")
    good = {"run": "run", "windows": 10, "accuracy": 0.9, "macro_f1": 0.9, "subjects": ["1"],
            "per_subject": {"1": {"accuracy": 1.0}}, "robustness": {"worst_drop_points": 0.5}}
    monkeypatch.setattr(train.tune, "_score", lambda run, split: {**good, "scored": "again"})
    kept = run / "score-validation.json"
    kept.write_text(json.dumps({"key": _score_key(run, "validation"), "result": good}))
    assert score_split(run, "validation") == good
    kept.unlink()
    if result == "folder":
        kept.mkdir()
        with pytest.raises(IsADirectoryError, match="score-validation.json"):  # named, not its temporary file
            score_split(run, "validation")
        return
    if result == "fifo":
        os.mkfifo(kept)  # read, it would hang
    else:
        kept.write_text(json.dumps({"key": _score_key(run, "validation"), "result": {"run": "run", "windows": 10, **result}}))
    assert score_split(run, "validation")["scored"] == "again"
    assert json.loads(kept.read_text())["result"]["scored"] == "again"


def test_a_kept_score_brings_no_key_of_its_own(tmp_path):
    """cross_validate spreads a score into {"fold": i, "seed": s, **score}: a "fold" kept in the file had
    replaced the real one."""
    from hostile_support import crafted_run

    from train.tune import _score_key, score_split

    run = crafted_run(tmp_path / "run")
    good = {"run": "run", "windows": 10, "accuracy": 0.9, "macro_f1": 0.9, "subjects": ["1"],
            "per_subject": {"1": {"accuracy": 1.0}}, "robustness": {"worst_drop_points": 0.5}}
    (run / "score-validation.json").write_text(json.dumps({"key": _score_key(run, "validation"),
                                                           "result": {**good, "fold": 7, "seed": 9}}))
    assert score_split(run, "validation") == good


def test_an_old_tune_folder_with_an_empty_run_folder_left_by_a_kill_is_still_ours(tmp_path):
    from train.tune import tune_folder

    folder = tmp_path / "tune-x"
    (folder / "fold1").mkdir(parents=True)
    (folder / "fold1" / ".har-run").write_text("")
    (folder / "fold2").mkdir()  # killed between its mkdir and its marker
    (folder / "cv.json").write_text("{}")
    assert tune_folder(tmp_path, "x") == folder


def test_numbers_too_large_for_a_float_and_values_nested_without_end(har, tmp_path):
    folder = _crafted_study(tmp_path / "runs", {}, [{"seconds": 10 ** 400, "cost": {"flash_bytes": 10 ** 400}}])
    status, err = har("search", "--runs", tmp_path / "runs", "--name", "x", "--report")
    assert status == 0 and json.loads((folder / "trials.json").read_text())["trials"][0]["seconds"] is None
    with sqlite3.connect(folder / "study.db") as db:
        db.execute("UPDATE trial_user_attributes SET value_json = ? WHERE key = 'seconds'", ["[" * 100000 + "]" * 100000])
    status, err = har("search", "--runs", tmp_path / "runs", "--name", "x", "--report")
    assert status == 2 and "cannot be read (RecursionError" in err and "study.db" in err


@pytest.mark.parametrize("sql", [
    "UPDATE trial_values SET value = NULL WHERE objective = 0",  # Optuna asserts
    "UPDATE trial_params SET param_value = 5",  # an index past the choices
    "UPDATE trials SET state = 'BOGUS'",  # an unknown enum name
    "UPDATE trial_params SET distribution_json = 'not json'",
])
def test_a_study_database_optuna_cannot_decode_is_refused_naming_it(har, tmp_path, sql):
    folder = _crafted_study(tmp_path / "runs", {}, WRONG_SHAPES[1:2])
    with sqlite3.connect(folder / "study.db") as db:
        db.execute(sql)
    for option in ("--report", "--export"):
        status, err = har("search", "--runs", tmp_path / "runs", "--name", "x", option, *["0"] * (option == "--export"))
        assert status == 2 and "study.db" in err and "cannot be read" in err


def test_sigterms_after_the_first_are_ignored_while_the_command_stops(monkeypatch, capsys):
    import har as cli

    def stopped_twice(args):
        os.kill(os.getpid(), signal.SIGTERM)

    class Parser:
        def parse_args(self, argv):
            return argparse.Namespace(func=stopped_twice, verbose=False, command="stopped")

    monkeypatch.setattr(cli, "build_parser", Parser)
    before = signal.getsignal(signal.SIGTERM)
    try:
        assert cli.main([]) == 130 and "har stopped: interrupted" in capsys.readouterr().err
        assert signal.getsignal(signal.SIGTERM) == signal.SIG_IGN
        os.kill(os.getpid(), signal.SIGTERM)  # a second one: ignored, this process goes on
    finally:
        signal.signal(signal.SIGTERM, before)
