"""What a trial may try: the four families and what an engineer tries for a compact IMU model.

CNN: depth, width and its growth, kernel size, depthwise-separable and dilated convolutions after the first
layer, max or average pooling, the gravity (window-mean) branch or not. MLP, LSTM and ConvLSTM: width.
Every family: window length (stride half of it), accelerometer only or accelerometer and gyro, dropout;
CNN and MLP: post-training or quantization-aware int8.
Define-by-run (Optuna): each trial's choices become a normal recipe, `RunConfig`, trained by train/fit.py.
"""
from __future__ import annotations

from train.run_config import RunConfig

WINDOWS_S = (1.28, 2.56)
SENSORS = {"acc+gyro": None, "acc": ["acc_x", "acc_y", "acc_z"]}


def suggest(trial, base: RunConfig, families: list[str], epochs: int) -> tuple[RunConfig, bool]:
    """The recipe of one trial: `base` (data source, split, training settings) with the trial's choices,
    trained for `epochs` (the search's --epochs, which the recipe keeps: an exported trial trains as long); and
    whether its int8 model is made quantization-aware (`har convert --qat`; CNN and MLP, whose layers the
    8-bit scheme covers)."""
    family = trial.suggest_categorical("family", families)
    window = trial.suggest_categorical("window_s", WINDOWS_S)
    sensors = trial.suggest_categorical("sensors", list(SENSORS))
    resolved = base.to_dict()
    resolved["data"].update(window=f"{window}s", stride=f"{window / 2:g}s", channels=SENSORS[sensors])
    resolved["model"] = {"family": family, **_MODEL[family](trial)}
    resolved["model"]["dropout"] = round(trial.suggest_float("dropout", 0.1, 0.4, step=0.1), 2)  # 0.3, not 0.30000000000000004
    resolved["train"]["epochs"] = epochs
    resolved["train"]["warmup_epochs"] = min(resolved["train"]["warmup_epochs"], epochs)
    if sensors == "acc":
        resolved["train"]["augment_gyro_bias"] = 0.0  # no gyro to add a bias to
    qat = family in ("cnn", "mlp") and trial.suggest_categorical("qat", [False, True])
    return RunConfig.from_dict(resolved), qat


def _cnn(trial) -> dict:
    depth = trial.suggest_int("cnn_depth", 1, 4)
    width = trial.suggest_categorical("cnn_width", [8, 12, 16, 24, 32])
    growth = trial.suggest_categorical("cnn_growth", [1.0, 1.5, 2.0])
    kernel = trial.suggest_categorical("cnn_kernel", [3, 5, 7, 9])
    return {
        "filters": [int(round(width * growth ** i)) for i in range(depth)],
        "kernels": [kernel] * depth,
        "separable": trial.suggest_categorical("cnn_separable", [False, True]),
        "dilation": trial.suggest_categorical("cnn_dilation", [1, 2]),
        "pool": trial.suggest_categorical("cnn_pool", ["max", "avg"]),
        "gravity_branch": trial.suggest_categorical("cnn_gravity_branch", [True, False]),
        "gravity_channels": "acc",
    }


def _mlp(trial) -> dict:
    layers = trial.suggest_int("mlp_layers", 1, 2)
    return {"units": [trial.suggest_categorical("mlp_units", [16, 32, 64, 128])] * layers}


def _lstm(trial) -> dict:
    return {"units": [trial.suggest_categorical("lstm_units", [8, 16, 24, 32])]}


def _convlstm(trial) -> dict:
    filters = trial.suggest_categorical("convlstm_filters", [8, 16, 24])
    return {"filters": [filters, filters], "kernels": [5, 5],
            "lstm_units": trial.suggest_categorical("convlstm_units", [8, 16, 24])}


_MODEL = {"cnn": _cnn, "mlp": _mlp, "lstm": _lstm, "convlstm": _convlstm}
