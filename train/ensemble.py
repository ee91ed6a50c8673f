"""A model of several networks: `model.members = K` trains K runs of the recipe as one network each (seeds
seed .. seed+K-1) into RUN/members/, then joins them into one model that averages their softmax outputs
(train/models.py builds it; the .tflite holds every member and averages with ADD and MUL).

Why: networks of one recipe that differ only in their seed disagree most on the people least like the
training subjects, and their average is steadier there than any one of them (BENCHMARKS.md, "Recipe
choice"). It costs K times the flash and the instructions of one network; `train.distill` is the
alternative that teaches the average to a single network.

`seed_runs` is shared with train/distill.py, whose teachers are the same kind of runs.
"""
from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

from device_runtime.contract import Contract
from train.run_config import RunConfig

MEMBERS = "members"  # the folder, inside the run, that holds its members' runs


def seed_runs(configs: list[RunConfig], folder: Path, contract: Contract, role: str) -> list:
    """Train (or resume, or find finished) one run per config in FOLDER/seedS; their Keras models, each
    checked to read the same inputs (`contract`) as the run they serve."""
    from train.fit import train_run
    from train.models import keras
    from train.run import RunError, is_finished, load, run_folder, same_recipe

    runs = []
    for i, config in enumerate(configs, 1):
        run = run_folder(folder, f"seed{config.train.seed}")
        if is_finished(run) and not same_recipe(run, config):
            raise RunError(f"{run}: a {role} of another recipe; retrain the run with --overwrite")
        if not is_finished(run):
            print(f"training {role} {i}/{len(configs)} (seed {config.train.seed}) into {run}", file=sys.stderr, flush=True)
            keras.backend.clear_session()
            train_run(config, run.name, run.parent, quiet=True)
        runs.append(run)
    models = []
    for run in runs:
        _, read, model = load(run)
        if read.to_json() != contract.to_json():
            raise RunError(f"{run}: its contract.json differs from {folder.parent / 'contract.json'}; a {role} must "
                           "read the same inputs as its run (retrain the run with --overwrite)")
        models.append(model)
    return models


def member_configs(config: RunConfig) -> list[RunConfig]:
    """The recipe as one network, once per seed seed .. seed+members-1."""
    model = {k: v for k, v in config.model.items() if k != "members"}
    return [dataclasses.replace(config, model=model, train=dataclasses.replace(config.train, seed=seed))
            for seed in range(config.train.seed, config.train.seed + config.members)]


def join_members(config: RunConfig, run: Path, contract: Contract):
    """The run's model: its members trained (or found), their weights copied into one averaging model."""
    from train.models import build_model

    from train.run import RunError

    configs = member_configs(config)
    models = seed_runs(configs, run / MEMBERS, contract, "member")
    regression = contract.task == "regression"
    joined = build_model(config.family, contract.window, contract.input_channels,
                         1 if regression else len(contract.class_names), config.model,
                         config.train.output_activation if regression else "softmax",
                         channel_names=contract.channels, target=contract.target)
    for i, (member, model) in enumerate(zip(configs, models), 1):
        try:
            joined.get_layer(f"member{i}").set_weights(model.get_weights())
        except ValueError:  # its config.json says this recipe, its model.keras is another network
            raise RunError(f"{run / MEMBERS / f'seed{member.train.seed}' / 'model.keras'}: a network of another "
                           "architecture than the run's recipe; retrain the run with --overwrite") from None
    return joined
