"""`har search` end to end on HAPT with tiny trials: trained and pruned trials, reports, a killed search
resumed, settings that must not change under a study, and a trial exported to a normal run."""
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest
from conftest import REPO

from har import main
from train.run import check

pytestmark = pytest.mark.slow
TEST_SUBJECTS = {"2", "4", "9", "10", "12", "13", "18", "20", "24"}


def _search(tmp_path, *options):
    """A search of one-epoch MLPs; a budget that prunes nothing unless a test gives its own."""
    budget = [] if "--budget" in options else ["--budget", "flash=1MB,arena=1MB"]
    return ["search", "--families", "mlp", "--cv", "2", "--epochs", "1", "--set", "train.epochs=1",
            "--runs", str(tmp_path), "--name", "tiny", *budget, *options]


def _finished_trials(db) -> int:
    try:
        with sqlite3.connect(db) as connection:
            return connection.execute("SELECT COUNT(*) FROM trials WHERE state IN ('COMPLETE', 'PRUNED')").fetchone()[0]
    except sqlite3.Error:
        return 0


def test_a_killed_search_resumes_to_its_trial_count_and_reports_its_front(tmp_path):
    folder = tmp_path / "search-tiny"
    worker = subprocess.Popen([sys.executable, "-m", "har", *_search(tmp_path, "--trials", "3")], cwd=REPO,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while _finished_trials(folder / "study.db") < 1 and time.time() < deadline and worker.poll() is None:
        time.sleep(1)
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    before = _finished_trials(folder / "study.db")
    assert 1 <= before < 3
    assert main(_search(tmp_path, "--trials", "3")) == 0
    report = json.loads((folder / "trials.json").read_text())
    finished = [t for t in report["trials"] if t["state"] in ("complete", "pruned")]
    assert len(finished) == 3
    complete = [t for t in finished if t["state"] == "complete"]
    assert complete and report["front"] and set(report["front"]) <= {t["trial"] for t in complete}
    for t in complete:
        assert 0 <= t["int8_macro_f1"] <= 1 and 0 < t["flash_bytes"] <= 1024 ** 2 and 0 < t["arena_bytes"] <= 1024 ** 2
        assert t["choices"]["family"] == "mlp"
    assert (folder / "pareto.png").read_bytes()[:4] == b"\x89PNG"
    assert "Pareto front" in (folder / "pareto.md").read_text()
    assert "trial,state,family" in (folder / "trials.csv").read_text()


@pytest.fixture(scope="module")
def one_trial(tmp_path_factory):
    """The runs folder of a search of one trained trial, shared by the tests that only read or extend it."""
    runs = tmp_path_factory.mktemp("search")
    assert main(_search(runs, "--trials", "1")) == 0
    return runs


def test_folds_never_hold_a_test_subject_and_changed_settings_are_refused(one_trial, capsys):
    db = one_trial / "search-tiny" / "study.db"
    with sqlite3.connect(db) as connection:
        (cv,) = connection.execute("SELECT value_json FROM trial_user_attributes WHERE key = 'cv'").fetchone()
    held_out = [set(fold["subjects"]) for fold in json.loads(cv)["folds"]]
    assert len(held_out) == 2 and not held_out[0] & held_out[1]
    assert not (held_out[0] | held_out[1]) & TEST_SUBJECTS
    capsys.readouterr()
    assert main(_search(one_trial, "--trials", "1", "--cv", "3")) == 2
    assert "was started with other cv" in capsys.readouterr().err


def test_over_budget_trials_are_pruned_untrained(tmp_path):
    assert main(_search(tmp_path, "--trials", "2", "--budget", "flash=2KB")) == 0
    report = json.loads((tmp_path / "search-tiny" / "trials.json").read_text())
    assert [t["state"] for t in report["trials"]] == ["pruned", "pruned"] and report["front"] == []
    assert all(t["pruned_because"].startswith("flash ") for t in report["trials"])
    assert not (tmp_path / "search-tiny" / "trials").exists()  # nothing was trained
    assert "0 trained" in (tmp_path / "search-tiny" / "pareto.md").read_text()


def test_an_exported_trial_is_a_config_file_and_a_normal_run(one_trial, capsys):
    assert main(_search(one_trial, "--trials", "1", "--export", "7")) == 2
    assert "--export 7: not a trained trial" in capsys.readouterr().err
    assert main(_search(one_trial, "--trials", "1", "--export", "0", "--seeds", "1")) == 0
    folder = one_trial / "search-tiny"
    recipe = tomllib.loads((folder / "trial-0.toml").read_text())
    assert recipe["model"]["family"] == "mlp" and recipe["train"]["epochs"] == 1  # as the search trained it
    check(folder / "export-0-seed0")  # a finished run that `har convert` takes
    summary = json.loads((folder / "export-0.json").read_text())
    assert summary["trial"] == 0 and len(summary["seeds"]) == 1
    assert "int8_accuracy" in summary["seeds"][0] or "refused" in summary["seeds"][0]


def test_a_search_whose_every_trial_fails_stops_and_says_why(tmp_path, monkeypatch, capsys):
    import search.study

    def broken(trial, settings):
        raise RuntimeError("the recipe cannot be built here")

    monkeypatch.setattr(search.study, "objective", broken)
    assert main(_search(tmp_path, "--trials", "100")) == 2
    error = capsys.readouterr().err
    assert f"the last {search.study.FAILURES_IN_A_ROW} trials failed" in error
    assert "RuntimeError: the recipe cannot be built here" in error
    assert "Traceback" not in error and error.count(" failed: RuntimeError: the recipe") == search.study.FAILURES_IN_A_ROW
    with sqlite3.connect(tmp_path / "search-tiny" / "study.db") as connection:
        assert connection.execute("SELECT COUNT(*) FROM trials").fetchone()[0] == search.study.FAILURES_IN_A_ROW


def _workers_of(pid: int) -> list[int]:
    """The spawned worker processes of `pid` (not multiprocessing's resource tracker), read from /proc."""
    workers = []
    for proc in Path("/proc").iterdir():
        try:
            parent = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
            command = (proc / "cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            continue
        if parent == pid and b"spawn_main" in command:
            workers.append(int(proc.name))
    return workers


def _running(pid: int) -> bool:
    try:
        return open(f"/proc/{pid}/stat").read().split()[2] != "Z"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


def test_sigterm_to_a_search_stops_its_workers_too(tmp_path):
    parent = subprocess.Popen([sys.executable, "-m", "har", *_search(tmp_path, "--trials", "50", "--workers", "2")],
                              cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    workers: list[int] = []
    deadline = time.time() + 120
    while len(workers) < 2 and time.time() < deadline:
        time.sleep(1)
        workers = _workers_of(parent.pid)
    assert len(workers) == 2
    parent.send_signal(signal.SIGTERM)
    assert parent.wait(timeout=60) == 130
    assert "interrupted" in parent.stderr.read()
    time.sleep(2)
    assert not [pid for pid in workers if _running(pid)]
