"""Distillation from a seed ensemble: `train.distill = K` trains K teachers (the same recipe with seeds
seed .. seed+K-1, no distillation) into RUN/teachers/, then trains the run's own model to match their averaged
softmax outputs on every augmented training batch.

Why: models of one recipe that differ only in their seed disagree most on the people least like the training
subjects, and averaging them removes much of that disagreement. `model.members` ships the average itself
(train/ensemble.py) at K times the flash and instructions; where a device has room or time for one network
only, the ensemble's outputs are taught to a single network of the recipe's own size and cost. On the CV
folds the student kept less of the ensemble's gain than the average in one model (BENCHMARKS.md).
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

from device_runtime.contract import Contract
from train.run_config import RunConfig

TEACHERS = "teachers"  # the folder, inside the student's run, that holds its teachers' runs


def teacher_models(config: RunConfig, run: Path, contract: Contract) -> list:
    """Train (or resume, or find finished) the run's K teachers in RUN/teachers/seedS; their Keras models,
    each checked to read the run's own inputs (`contract`)."""
    from train.ensemble import seed_runs

    teachers = [dataclasses.replace(config, train=dataclasses.replace(config.train, seed=seed, distill=0))
                for seed in range(config.train.seed, config.train.seed + config.train.distill)]
    return seed_runs(teachers, run / TEACHERS, contract, "teacher")


def soft_targets(models: list):
    """(x, y, weight) -> (x, the teachers' mean softmax output on x, weight): a tf.data map after augmentation,
    so the student is taught on the very windows it trains on."""
    import tensorflow as tf

    def teach(x, y, weight):
        return x, tf.add_n([model(x, training=False) for model in models]) / len(models), weight

    return teach
