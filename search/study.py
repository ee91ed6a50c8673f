"""The study: Optuna's storage, sampler and workers, with nothing home-made in between.

Storage: SQLite in RUNS/search-NAME/study.db by default (embedded, one machine), or any database URL
Optuna takes (`--storage postgresql://user@host/db`): every worker that opens the same storage and study
name joins the same search, on this machine or another. Workers send a heartbeat; a trial whose worker
was killed is failed after a grace period and retried with the same recipe (Optuna's
RetryHeartbeatStaleTrialCallback), whose fold runs then resume. `--trials` counts finished and pruned
trials over all workers (MaxTrialsCallback), so a rerun of the same command continues to the same total.
Failed trials do not count, so a search stops after FAILURES_IN_A_ROW of them: an error every recipe meets
would otherwise loop until --time.
"""
from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import signal
import sys
import warnings
from pathlib import Path

from search.report import trials_of
from search.trial import SearchSettings, objective

DIRECTIONS = ["maximize", "minimize", "minimize"]  # int8 CV macro-F1, flash bytes, compute
HEARTBEAT_S, GRACE_S = 20, 60
STARTUP_TRIALS = 10  # random recipes before the multi-objective TPE starts modelling
FAILURES_IN_A_ROW = 5


def default_storage(folder: Path) -> str:
    return f"sqlite:///{(folder / 'study.db').resolve()}"


def storage(url: str):
    import optuna

    with warnings.catch_warnings():  # heartbeats are "experimental" in Optuna 5.0, and have been since 2.8
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        retry = optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=2)
        try:
            return optuna.storages.RDBStorage(url, heartbeat_interval=HEARTBEAT_S, grace_period=GRACE_S,
                                              heartbeat_stale_trial_callback=retry)
        except Exception as error:  # a bad URL, a missing database driver, an unreachable or locked database
            reason = " ".join(str(error).split())[:300]
            raise ValueError(f"--storage {url}: Optuna cannot open it ({type(error).__name__}: {reason})") from None


def open_study(settings: SearchSettings, worker: int = 0):
    """Create the study, or join it with the settings it was created with (kept as user attributes)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)  # a failed trial is one line of ours, not its traceback
    with warnings.catch_warnings():  # multivariate TPE over a conditional space (group) is "experimental"
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        sampler = optuna.samplers.TPESampler(seed=settings.seed + worker, multivariate=True, group=True,
                                             n_startup_trials=STARTUP_TRIALS, constant_liar=True)
    study = optuna.create_study(study_name=settings.study, storage=storage(settings.storage), sampler=sampler,
                                directions=DIRECTIONS, load_if_exists=True)
    mine = {"base": settings.base, "budget": settings.budget, "families": settings.families, "cv": settings.cv,
            "epochs": settings.epochs, "compute": settings.compute}
    saved = study.user_attrs.get("settings")
    if saved is None:
        study.set_user_attr("settings", mine)
    elif not isinstance(saved, dict):
        raise ValueError(f"study '{settings.study}' in {settings.storage}: its recorded settings are damaged "
                         "(not a table); give this search another --name")
    elif json.dumps(saved, sort_keys=True) != json.dumps(mine, sort_keys=True):
        changed = sorted(k for k in mine if json.dumps(saved.get(k), sort_keys=True) != json.dumps(mine[k], sort_keys=True))
        raise ValueError(f"study '{settings.study}' in {settings.storage} was started with other {', '.join(changed)}; "
                         "rerun it with the same options, or give this search another --name")
    return study


def existing_study(settings: SearchSettings):
    """The study `settings.study` as it was created, for reports and export (its own settings apply)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if settings.storage == default_storage(settings.folder) and not (settings.folder / "study.db").is_file():
        raise ValueError(f"no search named '{settings.study}' in {settings.folder.parent}: {settings.folder / 'study.db'} "
                         "does not exist; start it without --report or --export first")
    try:
        return optuna.load_study(study_name=settings.study, storage=storage(settings.storage))
    except KeyError:
        raise ValueError(f"no search named '{settings.study}' in {settings.storage}; start it without "
                         "--report or --export first") from None


def work(settings: SearchSettings, worker: int = 0) -> None:
    """One worker: run trials until the study has `settings.trials` finished ones, or time is up."""
    import optuna

    from train.quiet import import_quietly

    tf = import_quietly("tensorflow")  # a spawned worker starts bare: TensorFlow's start-up lines filtered here too
    if settings.threads:
        tf.config.threading.set_intra_op_parallelism_threads(settings.threads)
        tf.config.threading.set_inter_op_parallelism_threads(settings.threads)
    study = open_study(settings, worker)
    if finished_count(study) >= settings.trials:
        return
    study.optimize(lambda trial: _recorded(trial, settings), timeout=settings.seconds,
                   callbacks=[optuna.study.MaxTrialsCallback(settings.trials, states=_counted()), _stop_when_failing],
                   catch=(Exception,), gc_after_trial=True)  # a failed trial is recorded; the search goes on


def _counted() -> tuple:
    """The trial states that count toward --trials: completed and pruned."""
    import optuna

    return optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED


def finished_count(study) -> int:
    return sum(t.state in _counted() for t in trials_of(study))


def failing(study) -> str | None:
    """Why the last trial failed, if each of the FAILURES_IN_A_ROW latest finished trials failed; else None.
    Latest by trial number, not by completion time: workers on other machines keep other clocks."""
    import optuna

    finished = [t for t in trials_of(study) if t.state.is_finished()][-FAILURES_IN_A_ROW:]
    if len(finished) < FAILURES_IN_A_ROW or any(t.state != optuna.trial.TrialState.FAIL for t in finished):
        return None
    return finished[-1].user_attrs.get("failed_because", "its worker stopped (no reason recorded)")


def _stop_when_failing(study, _trial) -> None:
    if failing(study):
        study.stop()


def _recorded(trial, settings: SearchSettings):
    """The objective, with why a trial failed kept in the study (Optuna logs it, but stores no reason)."""
    import optuna

    try:
        return objective(trial, settings)
    except optuna.TrialPruned:
        raise
    except Exception as error:
        reason = f"{type(error).__name__}: {' '.join(str(error).split())[:300]}"
        trial.set_user_attr("failed_because", reason)
        print(f"har search: trial {trial.number} failed: {reason}", file=sys.stderr, flush=True)
        raise


def run(settings: SearchSettings, workers: int) -> None:
    """`workers` processes on this machine, each with its share of the cores, against one storage."""
    fresh = not settings.folder.exists()
    settings.folder.mkdir(parents=True, exist_ok=True)
    try:
        open_study(settings)  # created (or refused) once, before any worker starts
    except ValueError:
        if fresh:  # the folder this call made, and nothing else
            shutil.rmtree(settings.folder, ignore_errors=True)
        raise
    if workers == 1:
        work(settings)
    else:
        _spawn(settings, workers)
    study = open_study(settings)
    why = failing(study) if finished_count(study) < settings.trials else None
    if why:
        raise ValueError(f"the last {FAILURES_IN_A_ROW} trials failed, the last because {why}; the study keeps "
                         "its finished trials: fix that and rerun the same command to go on")


def _spawn(settings: SearchSettings, workers: int) -> None:
    """Worker processes, stopped with this one: a SIGTERM here is passed on (Ctrl-C reaches them all)."""
    settings.threads = settings.threads or max(1, (os.cpu_count() or 1) // workers)  # cores shared out
    context = multiprocessing.get_context("spawn")  # TensorFlow does not survive a fork
    processes = [context.Process(target=_worker_main, args=(settings, i), name=f"worker{i}") for i in range(workers)]

    def stop(signum, _frame):
        for process in processes:
            if process.pid is not None:  # started
                process.terminate()
        raise KeyboardInterrupt  # har.py: "interrupted", exit status 130; the study keeps every finished trial

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        for process in processes:
            process.start()
        for process in processes:
            process.join()
    finally:
        signal.signal(signal.SIGTERM, previous)
    failed = [p.name for p in processes if p.exitcode]
    if failed:
        raise ValueError(f"workers {failed} stopped with an error (see above); the study keeps their finished trials")


def _worker_main(settings: SearchSettings, worker: int) -> None:
    try:
        work(settings, worker)
    except KeyboardInterrupt:
        sys.exit(130)
