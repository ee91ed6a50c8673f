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
"""
from __future__ import annotations

import io
import json
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from train.config import known_keys_only
from train.data.dataset import DataConfig, Prepared, prepare
from train.metrics import classification_report, plot_confusion, regression_report
from train.models import FAMILIES, build_model, keras

RUNS = Path("runs")


@dataclass
class TrainConfig:
    """[train] in the config file. Defaults are the measured settings of the default CNN (BENCHMARKS.md)."""

    epochs: int = 100
    batch_size: int = 32
    learning_rate: float = 2e-3  # Adam, cosine-decayed to zero over `epochs`
    class_weights: str | dict = "balanced"  # "balanced", "none", or {class name: weight}
    seed: int = 0
    final_model: str = "last"  # "last": the weights at the end of the cosine schedule; "best": best validation epoch
    patience: int = 0  # early stopping after this many epochs without a better validation score (0: off)...
    warmup_epochs: int = 10  # ...never before this epoch (3 validation subjects make early epochs noisy)
    augment_scale: float = 0.1  # random scaling of each window's motion (around its mean) by 1 +- this
    augment_noise: float = 0.05  # Gaussian noise (in normalised units) added to training windows
    checkpoint: str = "best"  # "best": keep the best epoch only; "every": also keep every epoch
    loss: str = "mse"  # regression only: "mse" or "mae"
    output_activation: str = "linear"  # regression only: "linear" or "relu"

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        config = cls(**known_keys_only(cls, data, "train"))
        if config.checkpoint not in ("best", "every"):
            raise ValueError(f"[train] checkpoint must be 'best' or 'every', not '{config.checkpoint}'")
        if config.final_model not in ("last", "best"):
            raise ValueError(f"[train] final_model must be 'last' or 'best', not '{config.final_model}'")
        return config


@dataclass
class RunConfig:
    data: DataConfig
    train: TrainConfig
    family: str = "cnn"
    model: dict = field(default_factory=dict)  # family hyperparameters, see train/models.py DEFAULTS

    @classmethod
    def from_dict(cls, config: dict) -> "RunConfig":
        model = dict(config.get("model", {}))
        family = model.pop("family", "cnn")
        if family not in FAMILIES:
            raise ValueError(f"[model] family '{family}' is not one of {FAMILIES}")
        return cls(DataConfig.from_dict(config.get("data", {})), TrainConfig.from_dict(config.get("train", {})), family, model)

    def to_dict(self) -> dict:
        return {"data": asdict(self.data), "model": {"family": self.family, **self.model}, "train": asdict(self.train)}


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
    """Metrics of a Keras model on one split of normalised windows."""
    outputs = model.predict(split.x, batch_size=512, verbose=0)
    if contract.task == "regression":
        return regression_report(split.y, outputs)
    return classification_report(split.y, outputs.argmax(axis=1), contract.class_names)


class Checkpoints(keras.callbacks.Callback):
    """Scores the validation split each epoch (macro-F1, or MAE), keeps the best model (and every epoch on
    request), and logs the validation confusion matrix to TensorBoard. Its best-so-far survives a resume."""

    def __init__(self, run: Path, prepared: Prepared, every_epoch: bool, writer):
        super().__init__()
        self.run, self.prepared, self.every_epoch, self.writer = run, prepared, every_epoch, writer
        self.state_file = run / "checkpoints" / "best.json"
        self.best = json.loads(self.state_file.read_text()) if self.state_file.exists() else None

    def on_epoch_end(self, epoch, logs=None):
        import tensorflow as tf

        report = score(self.model, self.prepared.splits["validation"], self.prepared.contract)
        regression = self.prepared.contract.task == "regression"
        value = -report["mae"] if regression else report["macro_f1"]
        logs["val_score"] = value
        logs["val_macro_f1" if not regression else "val_mae_windows"] = report["macro_f1" if not regression else "mae"]
        (self.run / "checkpoints").mkdir(exist_ok=True)
        if self.every_epoch:
            self.model.save(self.run / "checkpoints" / f"epoch_{epoch + 1:03d}.keras")
        if self.best is None or value > self.best["val_score"]:
            self.model.save(self.run / "checkpoints" / "best.keras")
            self.best = {"epoch": epoch + 1, "val_score": value}
            self.state_file.write_text(json.dumps(self.best))
        if not regression:
            figure = plot_confusion(report["confusion_matrix"], report["class_names"], f"validation, epoch {epoch + 1}")
            buffer = io.BytesIO()
            figure.savefig(buffer, format="png", dpi=80)
            import matplotlib.pyplot as plt

            plt.close(figure)
            with self.writer.as_default():
                tf.summary.scalar("val_macro_f1", report["macro_f1"], step=epoch)
                tf.summary.image("validation_confusion_matrix", tf.image.decode_png(buffer.getvalue())[None], step=epoch)


def _augmenter(config: TrainConfig, seed: int):
    import tensorflow as tf

    def augment(x, y, *rest):
        """Scale the motion, not the posture: the window's mean (where gravity falls on the sensor, which
        tells sitting from standing) is kept; rotations and plain amplitude scaling blur it (STACK.md)."""
        scale = tf.random.uniform((tf.shape(x)[0], 1, 1), 1 - config.augment_scale, 1 + config.augment_scale)
        mean = tf.reduce_mean(x, axis=1, keepdims=True)
        x = mean + (x - mean) * scale + tf.random.normal(tf.shape(x), stddev=config.augment_noise)
        return (x, y, *rest)

    return augment


def train_run(config: RunConfig, name: str, runs: Path = RUNS, overwrite: bool = False) -> Path:
    """Train one model; resume if runs/NAME holds an interrupted run of the same config.

    `overwrite` replaces a finished run, or an unfinished one with another config."""
    import tensorflow as tf
    from tensorboard.plugins.hparams import api as hparams

    run = runs / name
    resolved = config.to_dict()
    if (run / "config.json").exists():
        same_config = json.loads((run / "config.json").read_text()) == resolved
        finished = (run / "model.keras").exists()
        if finished or not same_config:
            if not overwrite:
                state = "a finished run" if finished else "an unfinished run with another config"
                raise ValueError(f"{run} holds {state}; choose another --name or pass --overwrite")
            shutil.rmtree(run)
    resuming = any((run / "backup").glob("*"))
    run.mkdir(parents=True, exist_ok=True)

    prepared = prepare(config.data)
    contract = prepared.contract
    (run / "config.json").write_text(json.dumps(resolved, indent=2))
    (run / "contract.json").write_text(contract.to_json())
    (run / "data_summary.json").write_text(json.dumps(prepared.summary, indent=2))

    keras.utils.set_random_seed(config.train.seed)
    regression = contract.task == "regression"
    train, val = prepared.splits["train"], prepared.splits["validation"]
    n_outputs = 1 if regression else len(contract.class_names)
    head = config.train.output_activation if regression else "softmax"
    model = build_model(config.family, contract.window, len(contract.channels), n_outputs, config.model, head)
    steps = int(np.ceil(len(train) / config.train.batch_size))
    schedule = keras.optimizers.schedules.CosineDecay(config.train.learning_rate, config.train.epochs * steps)
    model.compile(
        optimizer=keras.optimizers.Adam(schedule),
        loss=config.train.loss if regression else "sparse_categorical_crossentropy",
        metrics=["mae"] if regression else ["accuracy"],
    )

    weights = None if regression else class_weight_map(config.train, train.y, contract.class_names)
    sample_weight = np.ones(len(train), np.float32) if weights is None else np.array([weights[c] for c in train.y], np.float32)
    dataset = (
        tf.data.Dataset.from_tensor_slices((train.x, train.y, sample_weight))
        .shuffle(len(train), seed=config.train.seed, reshuffle_each_iteration=True)
        .batch(config.train.batch_size)
        .map(_augmenter(config.train, config.train.seed))
        .prefetch(2)
    )
    writer = tf.summary.create_file_writer(str(run / "logs" / "validation_images"))
    with tf.summary.create_file_writer(str(run / "logs" / "hparams")).as_default():
        flat = {f"{section}.{k}": str(v) for section, table in resolved.items() for k, v in table.items()}
        hparams.hparams(flat)
    callbacks = [Checkpoints(run, prepared, config.train.checkpoint == "every", writer)]
    if config.train.patience:
        callbacks.append(keras.callbacks.EarlyStopping(
            monitor="val_score", mode="max", patience=config.train.patience, start_from_epoch=config.train.warmup_epochs
        ))
    callbacks += [
        keras.callbacks.CSVLogger(str(run / "history.csv"), append=True),
        keras.callbacks.TensorBoard(log_dir=str(run / "logs")),
        keras.callbacks.BackupAndRestore(backup_dir=str(run / "backup")),
    ]
    if resuming:
        print(f"resuming {run} from its last completed epoch", file=sys.stderr)
    start = time.perf_counter()
    model.fit(
        dataset,
        validation_data=(val.x, val.y),
        epochs=config.train.epochs,
        callbacks=callbacks,
        verbose=1 if sys.stdout.isatty() else 2,
    )
    fit_seconds = time.perf_counter() - start

    best_epoch = json.loads((run / "checkpoints" / "best.json").read_text())["epoch"]
    if config.train.final_model == "best":
        model = keras.models.load_model(run / "checkpoints" / "best.keras")
    model.save(run / "model.keras")
    shutil.rmtree(run / "backup", ignore_errors=True)
    epochs_done = len((run / "history.csv").read_text().splitlines()) - 1
    timing = {"fit_seconds": fit_seconds, "best_epoch": best_epoch, "epochs": epochs_done,
              "final_model": config.train.final_model}
    (run / "training.json").write_text(json.dumps(timing, indent=2))
    return run
