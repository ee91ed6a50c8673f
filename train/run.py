"""The run folder: the one writer and reader of runs/NAME for training, evaluation and conversion.

`har train` creates a run folder with a marker file (MARKER) and counts it finished only once FINISHED,
written last, exists: so --overwrite deletes nothing the toolchain did not make, and a run killed during its
final save resumes instead of passing for finished. Its model files are read and written by
train/keras_file.py.
"""
from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from device_runtime.contract import Contract
from device_runtime.contract_checks import is_number
from device_runtime.files import atomic_write
from device_runtime.model_file import read_small_text
from train.distill import TEACHERS
from train.ensemble import MEMBERS
from train.keras_file import RunError, check_keras_file, load_keras
from train.run_config import RunConfig

MARKER = ".har-run"  # written when `har train` creates the folder
FINISHED = "training.json"  # written last: the run is finished
CHECKPOINTS = {"final": "model.keras", "best": "checkpoints/best.keras"}
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+=-]{0,99}")
T = TypeVar("T")


def run_folder(runs: str | Path, name: str) -> Path:
    """RUNS/NAME as an absolute path, with NAME a plain folder name so the run stays inside RUNS."""
    if not NAME.fullmatch(name):
        raise RunError(f"--name {name!r}: a run name is one plain folder name (letters, digits and . _ + = -, "
                       "starting with a letter or digit, at most 100 characters, no '/' or '..'); "
                       "choose the parent folder with --runs")
    runs = Path(os.path.abspath(runs))
    if runs.exists() and not runs.is_dir():
        raise RunError(f"--runs {runs}: exists and is not a folder; give the folder that holds the runs")
    return runs / name


def own_folder(folder: Path, option: str, made_by: str, ours: Callable[[Path], bool], marker: str | None = None) -> Path:
    """`folder`, unless it is a link or a file, or a folder holding anything `ours` does not accept (and no
    `marker` file): nothing of the user's is replaced, and nothing is written through a link."""
    if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
        raise RunError(f"{option} {folder}: exists and is not a plain folder; nothing is written through a link "
                       f"or over a file: choose another {option}")
    if folder.is_dir() and not (marker and (folder / marker).is_file()):
        foreign = sorted(p.name for p in folder.iterdir() if not ours(p))
        if foreign:
            raise RunError(f"{option} {folder}: this folder was not made by {made_by} (it holds {foreign[0]!r}"
                           f"{f' and no {marker} file' if marker else ''}), so nothing is written into it; "
                           f"choose another {option}")
    return folder


def check_folder(run: Path, config: dict, overwrite: bool) -> str:
    """What training `config` into `run` means (new, resume, restart, finished, another config), refusing
    a folder that is not ours and, without `overwrite`, a run that training would replace."""
    state = _state(run, config)
    if state in ("finished", "another config") and not overwrite:
        held = "a finished run" if state == "finished" else "an unfinished run with another config"
        raise RunError(f"{run} holds {held}; choose another --name or pass --overwrite")
    return state


def prepare_folder(run: Path, config: dict, overwrite: bool, check_data: Callable[[], T]) -> tuple[T, bool]:
    """Make `run` ready to train `config` into: (what check_data returned, whether training resumes).

    The data is checked before anything is deleted, and only a folder carrying MARKER is ever deleted."""
    state = check_folder(run, config, overwrite)
    checked = check_data()
    if state in ("finished", "another config", "restart"):
        shutil.rmtree(run)
    run.mkdir(parents=True, exist_ok=True)
    if not (run / MARKER).exists():
        atomic_write(run / MARKER, "made by `har train`; `har train --overwrite` may delete this folder\n")
    return checked, state == "resume"


def _state(run: Path, config: dict) -> str:
    """new, resume, restart (ours, unfinished, nothing to resume from), finished or another config."""
    if run.is_symlink() or (run.exists() and not run.is_dir()):
        raise RunError(f"{run}: exists and is not a plain folder; choose another --name")
    if not run.exists() or not any(run.iterdir()):
        return "new"
    if not (run / MARKER).is_file():
        raise RunError(f"{run}: this folder was not made by `har train` (no {MARKER} file), so nothing is "
                       "written into or deleted from it; choose another --name or --runs")
    if is_finished(run):
        return "finished"
    if stored_recipe(run) != json.loads(json.dumps(config)):
        return "another config"
    resume = any((run / "backup").glob("*")) or any((run / TEACHERS).glob("*")) or any((run / MEMBERS).glob("*"))
    odd = resume and _not_plain(run)
    if odd:
        raise RunError(f"{odd}: is a link or not a plain file or folder, and resuming {run} would write through it; "
                       "nothing is written: delete it, or the run folder to train the run again from the start")
    return "resume" if resume else "restart"


def _not_plain(run: Path) -> Path | None:
    """The first entry under `run` that is a link, a FIFO or a device: a resumed run writes into its
    checkpoints/, history.csv, logs/, backup/ and members' or teachers' runs (links are not followed)."""
    for folder, names, files in os.walk(run):
        for name in names + files:
            path = Path(folder) / name
            if path.is_symlink() or not (path.is_dir() or path.is_file()):
                return path
    return None


def is_finished(run: Path) -> bool:
    return (run / FINISHED).is_file()


def finish(run: Path, summary: dict) -> None:
    """Mark the run finished (after model.keras is in place): FINISHED with the training summary."""
    atomic_write(run / FINISHED, json.dumps(summary, indent=2))


def training_summary(run: Path) -> dict:
    """FINISHED's content: fit seconds, best epoch, epochs and which model is final."""
    path = run / FINISHED
    try:
        summary = json.loads(read_small_text(path))
    except (ValueError, RecursionError) as error:  # read_small_text's errors name the path; JSON's do not
        if str(path) in str(error):
            raise RunError(f"{error}; retrain the run") from None
        summary = None
    kinds = {"fit_seconds": (int, float), "best_epoch": int, "epochs": int, "final_model": str}
    if not isinstance(summary, dict) or not all(type(summary.get(k)) in (t if isinstance(t, tuple) else (t,))
                                                for k, t in kinds.items()) \
            or not all(is_number(summary[k]) and summary[k] >= 0 for k in ("fit_seconds", "best_epoch", "epochs")):
        raise RunError(f"{path}: damaged (expected {sorted(kinds)}, numbers finite and not negative); retrain the run")
    return {k: summary[k] for k in kinds}


def resolve(path: str | Path) -> Path:
    """The absolute run folder of `path` (a run folder or its model.keras), checked to hold a finished run."""
    path = Path(os.path.abspath(path))
    run = path.parent if path.name == CHECKPOINTS["final"] else path
    if not path.exists():
        raise RunError(f"{path}: no such run folder or file; give runs/NAME (made by `har train`) or a .tflite")
    if not run.is_dir():
        raise RunError(f"{path}: not a run folder; give runs/NAME (made by `har train`), its model.keras, or a .tflite")
    missing = [name for name in ("config.json", "contract.json") if not (run / name).is_file()]
    if missing:
        raise RunError(f"{run}: not a run folder, {' and '.join(missing)} missing; train one with `har train`")
    if not is_finished(run):
        raise RunError(f"{run}: training has not finished ({FINISHED} is missing); rerun the same `har train` "
                       "command to resume it")
    return run


def stored_recipe(run: Path) -> dict | None:
    """The run's config as this version reads it (a setting added since takes its default, so a run made
    before it is still the same recipe), as plain JSON values; None if it is missing or invalid."""
    try:
        return json.loads(json.dumps(read_config(run).to_dict()))
    except (ValueError, OSError):
        return None


def same_recipe(run: Path, config: RunConfig) -> bool:
    """Whether the run folder holds a run of exactly this recipe (as this version reads both)."""
    return stored_recipe(run) == json.loads(json.dumps(config.to_dict()))


def read_config(run: Path) -> RunConfig:
    """The run's config.json, validated: a damaged or crafted one is an error naming the file."""
    path = run / "config.json"
    try:
        data = json.loads(read_small_text(path))
    except (json.JSONDecodeError, RecursionError) as error:
        raise RunError(f"{path}: not valid JSON ({str(error)[:200]}); retrain the run") from None
    if not isinstance(data, dict) or not all(isinstance(data.get(s, {}), dict) for s in ("data", "model", "train")):
        raise RunError(f"{path}: a run config is a JSON object of [data], [model] and [train] tables; retrain the run")
    try:
        return RunConfig.from_dict(data)
    except (TypeError, ValueError) as error:
        raise RunError(f"{path}: {str(error)[:300]}") from None


def check(run: Path, checkpoint: str = "final") -> tuple[RunConfig, Contract, Path]:
    """(config, contract, model file) of a finished run, every file checked without loading the model
    (no TensorFlow); `checkpoint` "final" (model.keras) or "best" (checkpoints/best.keras)."""
    if checkpoint not in CHECKPOINTS:
        raise RunError(f"--checkpoint {checkpoint!r}: choose one of {list(CHECKPOINTS)}")
    config, contract = read_config(run), Contract.read(run / "contract.json")
    if checkpoint == "best" and config.data.validation_subjects == []:  # first: nor have its networks
        raise RunError(f"{run}: trained without validation subjects ([data] validation_subjects = []), so it has "
                       "no best epoch; its model is model.keras (--checkpoint final)")
    if checkpoint == "best" and config.members > 1:
        raise RunError(f"{run}: averages {config.members} networks, each its own run with its own best checkpoint "
                       f"({run / MEMBERS}/seedS/checkpoints/best.keras); the run itself has only model.keras")
    check_keras_file(run / CHECKPOINTS[checkpoint])
    return config, contract, run / CHECKPOINTS[checkpoint]


def load(run: Path, checkpoint: str = "final") -> tuple[RunConfig, Contract, object]:
    """(config, contract, Keras model) of a finished run, checked as `check` does."""
    config, contract, path = check(run, checkpoint)
    model = load_keras(path)
    expected = (contract.window, contract.input_channels)
    if tuple(model.input_shape[1:]) != expected:
        raise RunError(f"{path}: takes {list(model.input_shape[1:])}, contract.json says {list(expected)}; "
                       "the model and its contract do not belong together (retrain the run)")
    return config, contract, model


def best_record(path: Path) -> dict | None:
    """checkpoints/best.json of a resumed run ({"epoch", "val_score"}), None if there is none yet; a damaged or
    crafted one is refused naming it (it had been a traceback, or, as a FIFO, a wait for ever)."""
    if not path.exists() and not path.is_symlink():
        return None
    try:
        best = json.loads(read_small_text(path))
    except (ValueError, RecursionError) as error:  # read_small_text's errors name the path, JSON's do not
        reason = str(error) if str(path) in str(error) else f"{path}: not JSON ({str(error)[:100]})"
        raise RunError(f"{reason}; delete it, or pass --overwrite to train the run again") from None
    epoch, score = (best.get("epoch"), best.get("val_score")) if isinstance(best, dict) else (None, None)
    if not (type(epoch) is int and epoch >= 1 and is_number(score)):
        raise RunError(f"{path}: not a best-epoch record {{\"epoch\": N, \"val_score\": X}}; delete it, or pass "
                       "--overwrite to train the run again")
    return best
