"""`har train`: one run from a config file to runs/NAME/ with checkpoints, TensorBoard logs and reports.

A run folder holds everything needed to understand and reproduce it:
  config.json        the resolved config (file + command-line overrides)
  contract.json      the preprocessing contract (normalisation fitted on training subjects only)
  data_summary.json  windows per class/subject per split and every drop with its reason
  model.keras        the final model: the weights at the end of the cosine schedule (final_model = "last",
                     the default: measured better and steadier than picking by 3 validation subjects), or
                     the best epoch by validation macro-F1 (lowest MAE for regression)
  checkpoints/       best.keras and best.json, and epoch_NNN.keras for every epoch on request
  backup/            training state while a run is in progress; a killed run resumes from here
  history.csv        one row per completed epoch
  logs/              TensorBoard: scalars, hyperparameters, the validation confusion matrix
  training.json      fit time and epochs, written last: the run is finished (train/run.py)
  .har-run           the marker that lets `--overwrite` delete this folder, and no other
Every model and JSON file is written atomically, so a kill never leaves a half-written one.
"""
from __future__ import annotations

import io
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from device_runtime.files import atomic_write
from device_runtime.model_file import read_small_text
from train.augment import augmenter, rotation_limits
from train.data.dataset import Prepared, prepare
from train.distill import soft_targets, teacher_models
from train.ensemble import join_members
from train.metrics import classification_report, per_subject, plot_confusion, regression_report
from train.models import build_model, keras
from train.robustness import bias_scale
from train.keras_file import load_keras, save_keras
from train.run import best_record, finish, prepare_folder, run_folder
from train.run_config import RunConfig, TrainConfig


def class_weight_map(config: TrainConfig, y: np.ndarray, class_names: list[str]) -> dict[int, float] | None:
    """Weights that make every class count equally in the loss ("balanced"), or as given."""
    if config.class_weights == "none":
        return None
    if config.class_weights == "balanced":
        counts = np.bincount(y, minlength=len(class_names))
        return {i: float(len(y) / (len(class_names) * c)) if c else 0.0 for i, c in enumerate(counts)}
    if isinstance(config.class_weights, dict):
        unknown = set(config.class_weights) - set(class_names)
        if unknown:
            raise ValueError(f"[train] class_weights names unknown classes {sorted(unknown)}")
        return {i: float(config.class_weights.get(n, 1.0)) for i, n in enumerate(class_names)}
    raise ValueError(f"[train] class_weights must be 'balanced', 'none' or a table, not {config.class_weights!r}")


def score(model, split, contract) -> dict:
    """Metrics of a Keras model on one split of normalised windows, with each subject's accuracy."""
    outputs = model.predict(split.x, batch_size=512, verbose=0)
    if contract.task == "regression":
        return regression_report(split.y, outputs)
    predicted = outputs.argmax(axis=1)
    report = classification_report(split.y, predicted, contract.class_names)
    report["per_subject"] = per_subject(split.y, predicted, split.subjects, names=contract.class_names)
    return report


class Checkpoints(keras.callbacks.Callback):
    """Scores the validation split each epoch (macro-F1, or MAE), keeps the best model (and every epoch on
    request), and logs the validation confusion matrix to TensorBoard. Its best-so-far survives a resume."""

    def __init__(self, run: Path, prepared: Prepared, every_epoch: bool, writer):
        super().__init__()
        self.run, self.prepared, self.every_epoch, self.writer = run, prepared, every_epoch, writer
        self.state_file = run / "checkpoints" / "best.json"
        self.best = best_record(self.state_file)

    def on_epoch_end(self, epoch, logs=None):
        import tensorflow as tf

        (self.run / "checkpoints").mkdir(exist_ok=True)
        if self.every_epoch:
            save_keras(self.model, self.run / "checkpoints" / f"epoch_{epoch + 1:03d}.keras")
        if not len(self.prepared.splits["validation"]):
            return  # no validation subjects: nothing to score, no best epoch
        report = score(self.model, self.prepared.splits["validation"], self.prepared.contract)
        regression = self.prepared.contract.task == "regression"
        value = -report["mae"] if regression else report["macro_f1"]
        logs["val_score"] = value
        logs["val_macro_f1" if not regression else "val_mae_windows"] = report["macro_f1" if not regression else "mae"]
        if self.best is None or value > self.best["val_score"]:
            save_keras(self.model, self.run / "checkpoints" / "best.keras")
            self.best = {"epoch": epoch + 1, "val_score": value}
            atomic_write(self.state_file, json.dumps(self.best))
        if not regression:
            figure = plot_confusion(report["confusion_matrix"], report["class_names"], f"validation, epoch {epoch + 1}")
            buffer = io.BytesIO()
            figure.savefig(buffer, format="png", dpi=80)
            import matplotlib.pyplot as plt

            plt.close(figure)
            with self.writer.as_default():
                tf.summary.scalar("val_macro_f1", report["macro_f1"], step=epoch)
                tf.summary.image("validation_confusion_matrix", tf.image.decode_png(buffer.getvalue())[None], step=epoch)


def train_run(config: RunConfig, name: str, runs: str | Path = "runs", overwrite: bool = False,
              quiet: bool = False) -> Path:
    """Train one model into RUNS/NAME; resume if it holds an interrupted run of the same config.

    `overwrite` replaces a finished run, or an unfinished one with another config (never a folder that
    `har train` did not make, and only once the data has loaded). `quiet`: no line per epoch (`har tune`
    trains many runs and prints one line per run instead)."""
    run = run_folder(runs, name)
    resolved = config.to_dict()
    prepared, resuming = prepare_folder(run, resolved, overwrite, lambda: _fitting(config, prepare(config.data)))
    atomic_write(run / "config.json", json.dumps(resolved, indent=2))
    atomic_write(run / "contract.json", prepared.contract.to_json())
    atomic_write(run / "data_summary.json", json.dumps(prepared.summary, indent=2))
    if config.members > 1:
        return _joined_run(config, run, prepared)
    teachers = teacher_models(config, run, prepared.contract) if config.train.distill else []
    start = time.perf_counter()  # this model's own fit; each teacher's is in its own training.json
    keras.utils.set_random_seed(config.train.seed)
    model = _compiled_model(config, prepared)
    if resuming and any((run / "backup").glob("*")):  # (a run with finished teachers only starts its own fit)
        print(f"resuming {run} from its last completed epoch", file=sys.stderr)
    validation = prepared.splits["validation"]
    model.fit(
        training_data(config.train, prepared, teachers),
        validation_data=(validation.x, np.eye(len(prepared.contract.class_names), dtype=np.float32)[validation.y]
                         if teachers else validation.y) if len(validation) else None,
        epochs=config.train.epochs,
        callbacks=_callbacks(run, config, prepared),
        verbose=0 if quiet else 1 if sys.stdout.isatty() else 2,
    )
    fit_seconds = time.perf_counter() - start
    best = best_record(run / "checkpoints" / "best.json")
    best_epoch = best["epoch"] if best else 0  # 0: no validation split
    if config.train.final_model == "best":
        model.set_weights(load_keras(run / "checkpoints" / "best.keras").get_weights())
    save_keras(model, run / "model.keras")
    epochs_done = len(read_small_text(run / "history.csv").splitlines()) - 1
    finish(run, {"fit_seconds": fit_seconds, "best_epoch": best_epoch, "epochs": epochs_done,
                 "final_model": config.train.final_model})
    shutil.rmtree(run / "backup", ignore_errors=True)
    return run


def _joined_run(config: RunConfig, run: Path, prepared: Prepared) -> Path:
    """A run of several networks: no fit of its own, its members' runs joined (train/ensemble.py)."""
    save_keras(join_members(config, run, prepared.contract), run / "model.keras")
    finish(run, {"fit_seconds": 0.0, "best_epoch": 0, "epochs": config.train.epochs, "final_model": "members",
                 "members": config.members})  # each member's fit, best epoch and checkpoints are in its own run
    return run


def _fitting(config: RunConfig, prepared: Prepared) -> Prepared:
    """Refuse, before a run folder exists, augmentation the data's channels cannot take (a sensor bias on a
    sensor the data lacks, a rotation without an accelerometer or gyro triad): a refused recipe must not leave
    a folder that blocks the corrected rerun."""
    for sensor in ("gyro", "acc"):
        bias_scale(prepared.contract, sensor, getattr(config.train, f"augment_{sensor}_bias"))
    rotation_limits(prepared.contract, config.train)
    picking = [f"train.{key} = {value!r}" for key, value, fine in (
        ("final_model", config.train.final_model, "last"), ("patience", config.train.patience, 0)) if value != fine]
    if not len(prepared.splits["validation"]) and picking:
        raise ValueError(f"[data] validation_subjects = []: no validation split to pick an epoch by, as "
                         f"{' and '.join(picking)} would; set train.final_model = \"last\" and train.patience = 0")
    if config.train.distill and prepared.contract.task == "regression":
        raise ValueError(f"train.distill = {config.train.distill}: distillation teaches class probabilities; "
                         "a regression run has none (set it to 0)")
    import tensorflow as tf

    try:  # [model] values that pass their checks may still not build (sizes no memory holds)
        _compiled_model(config, prepared)
    except (TypeError, OverflowError, tf.errors.OpError) as error:
        raise ValueError(f"[model] {config.model}: does not build a {config.family} "
                         f"({type(error).__name__}: {' '.join(str(error).split())[:200]})") from None
    keras.backend.clear_session()
    return prepared


def _compiled_model(config: RunConfig, prepared: Prepared) -> keras.Model:
    contract = prepared.contract
    regression = contract.task == "regression"
    n_outputs = 1 if regression else len(contract.class_names)
    head = config.train.output_activation if regression else "softmax"
    model = build_model(config.family, contract.window, contract.input_channels, n_outputs, config.model, head,
                        channel_names=contract.channels, target=contract.target)
    steps = int(np.ceil(len(prepared.splits["train"]) / config.train.batch_size))
    schedule = keras.optimizers.schedules.CosineDecay(config.train.learning_rate, config.train.epochs * steps)
    model.compile(
        optimizer=keras.optimizers.Adam(schedule),
        loss=config.train.loss if regression else "categorical_crossentropy" if config.train.distill
        else "sparse_categorical_crossentropy",
        metrics=["mae"] if regression else ["accuracy"],
    )
    return model


def training_data(config: TrainConfig, prepared: Prepared, teachers: list = ()):
    """Shuffled, class-weighted (as sample weights), augmented batches of the training split, labelled by
    the teachers' mean output if there are teachers (train/distill.py)."""
    import tensorflow as tf

    train, contract = prepared.splits["train"], prepared.contract
    weights = None if contract.task == "regression" else class_weight_map(config, train.y, contract.class_names)
    sample_weight = np.ones(len(train), np.float32) if weights is None else np.array([weights[c] for c in train.y], np.float32)
    batches = (
        tf.data.Dataset.from_tensor_slices((train.x, train.y, sample_weight))
        .shuffle(len(train), seed=config.seed, reshuffle_each_iteration=True)
        .batch(config.batch_size)
        .map(augmenter(config, contract))
    )
    return (batches.map(soft_targets(list(teachers))) if teachers else batches).prefetch(2)


def _callbacks(run: Path, config: RunConfig, prepared: Prepared) -> list:
    import tensorflow as tf
    from tensorboard.plugins.hparams import api as hparams

    writer = tf.summary.create_file_writer(str(run / "logs" / "validation_images"))
    with tf.summary.create_file_writer(str(run / "logs" / "hparams")).as_default():
        hparams.hparams({f"{section}.{k}": str(v) for section, table in config.to_dict().items() for k, v in table.items()})
    callbacks = [Checkpoints(run, prepared, config.train.checkpoint == "every", writer)]
    if config.train.patience:
        callbacks.append(keras.callbacks.EarlyStopping(
            monitor="val_score", mode="max", patience=config.train.patience, start_from_epoch=config.train.warmup_epochs
        ))
    return callbacks + [
        keras.callbacks.CSVLogger(str(run / "history.csv"), append=True),
        keras.callbacks.TensorBoard(log_dir=str(run / "logs")),
        keras.callbacks.BackupAndRestore(backup_dir=str(run / "backup")),
    ]
