"""Distillation from a seed ensemble: `train.distill = K` trains K teachers (the same recipe with seeds
seed .. seed+K-1, no distillation) into RUN/teachers/, then trains the run's own model to match their averaged
softmax outputs on every augmented training batch.

Why: models of one recipe that differ only in their seed disagree most on the people least like the training
subjects, and averaging them removes much of that disagreement; a device has room for one small model, so the
ensemble's outputs are taught to a single network of the recipe's own size and cost.
"""
from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

from device_runtime.contract import Contract
from train.run_config import RunConfig

TEACHERS = "teachers"  # the folder, inside the student's run, that holds its teachers' runs


def teacher_models(config: RunConfig, run: Path, contract: Contract) -> list:
    """Train (or resume, or find finished) the run's K teachers in RUN/teachers/seedS; their Keras models,
    each checked to read the run's own inputs (`contract`)."""
    from train.fit import train_run
    from train.models import keras
    from train.run import RunError, is_finished, load, run_folder, same_recipe

    folders = []
    for seed in range(config.train.seed, config.train.seed + config.train.distill):
        teacher = dataclasses.replace(config, train=dataclasses.replace(config.train, seed=seed, distill=0))
        folder = run_folder(run / TEACHERS, f"seed{seed}")
        if is_finished(folder) and not same_recipe(folder, teacher):
            raise RunError(f"{folder}: a teacher of another recipe; retrain the run with --overwrite")
        if not is_finished(folder):
            print(f"training teacher {len(folders) + 1}/{config.train.distill} (seed {seed}) into {folder}",
                  file=sys.stderr, flush=True)
            keras.backend.clear_session()
            train_run(teacher, folder.name, folder.parent, quiet=True)
        folders.append(folder)
    models = []
    for folder in folders:
        _, taught, model = load(folder)
        if taught.to_json() != contract.to_json():
            raise RunError(f"{folder}: its contract.json differs from {run / 'contract.json'}; a teacher must read "
                           "the same inputs as its student (retrain the run with --overwrite)")
        models.append(model)
    return models


def soft_targets(models: list):
    """(x, y, weight) -> (x, the teachers' mean softmax output on x, weight): a tf.data map after augmentation,
    so the student is taught on the very windows it trains on."""
    import tensorflow as tf

    def teach(x, y, weight):
        return x, tf.add_n([model(x, training=False) for model in models]) / len(models), weight

    return teach
