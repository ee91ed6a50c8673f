"""The four model families, in the Keras 2 API (tf_keras): the one API whose LSTM converts to the fused
int8 op that TensorFlow Lite Micro runs.

`build_model` takes `batch_size`: None for training, 1 for the export graph the converter wants,
`head`: the output activation ("softmax" for classification, "linear" or "relu" for regression), and
`channel_names`: the contract's channels, which a recipe may select by name (the CNN's gravity branch).
"""
from __future__ import annotations

import numpy as np

from train.quiet import import_quietly
from train.run_config import FAMILIES

keras = import_quietly("tf_keras")
layers = keras.layers

# Hyperparameters of each family; [model] in the config file overrides any of them.
DEFAULTS: dict[str, dict] = {
    "cnn": {"filters": [24, 48, 64], "kernels": [9, 7, 5], "dropout": 0.3, "gravity_branch": True,
            "gravity_channels": "all", "separable": False, "dilation": 1, "pool": "max"},
    "mlp": {"units": [256, 256], "dropout": 0.3},
    "lstm": {"units": [32, 32], "dropout": 0.3},
    "convlstm": {"filters": [32, 32], "kernels": [5, 5], "lstm_units": 32, "dropout": 0.3},
}


def _conv_block(x, filters: int, kernel: int):
    x = layers.Conv1D(filters, kernel, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    x = layers.ReLU()(x)
    return layers.MaxPooling1D(2)(x)


def _head(x, n_outputs: int, head: str):
    return layers.Dense(n_outputs, activation=head, name="output")(x)


def cnn(inputs, n_outputs, head, filters, kernels, dropout, gravity_branch, gravity_channels, channel_names,
        separable, dilation, pool):
    """Temporal convolutions and global average pooling: small, fast, int8-friendly.

    The convolutions are Conv2D with (1, k) kernels over a (1, T, C) view of the window: the same
    arithmetic as Conv1D, but the .tflite needs no EXPAND_DIMS/SQUEEZE reshapes around every layer (fewer
    ops and tensors: a smaller flatbuffer and less work on the microcontroller). After the first layer,
    `separable` makes each convolution depthwise-separable (a k-tap filter per channel, then a 1x1 mix:
    about k times fewer weights and MACs) and `dilation` spaces its taps (a wider view for the same cost);
    `pool` is "max" or "avg". The optional gravity branch feeds window means straight to the classifier:
    of every channel ("all"), or of the accelerometer's only ("acc")."""
    if pool not in ("max", "avg") or not isinstance(dilation, int) or dilation < 1:
        raise ValueError(f"pool = {pool!r} must be 'max' or 'avg' and dilation = {dilation!r} a whole number >= 1")
    pooling = layers.MaxPooling2D if pool == "max" else layers.AveragePooling2D
    x = layers.Reshape((1, *inputs.shape[1:]))(inputs)
    for i, (f, k) in enumerate(zip(filters, kernels)):
        conv = layers.SeparableConv2D if separable and i else layers.Conv2D
        x = conv(f, (1, k), padding="same", use_bias=False, dilation_rate=(1, dilation if i else 1))(x)
        x = layers.BatchNormalization()(x)
        x = layers.ReLU()(x)
        x = pooling((1, 2))(x)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(dropout)(x)
    if not gravity_branch:
        return _head(x, n_outputs, head)
    gravity = _gravity_means(inputs, gravity_channels, channel_names)
    logits = layers.Add()([layers.Dense(n_outputs)(x), layers.Dense(n_outputs, name="gravity")(gravity)])
    return layers.Activation(head, name="output")(logits)


def _gravity_means(inputs, gravity_channels: str, channel_names: list[str] | None):
    """The window means the gravity branch sees. "acc" keeps the accelerometer's (channels named acc_*):
    where gravity falls tells posture, while a gyro's mean is its bias, or how one building's stairs turn,
    a shortcut that fails on another device. Selected by cropping, which converts to STRIDED_SLICE."""
    means = layers.GlobalAveragePooling1D(name="channel_means")(inputs)
    if gravity_channels not in ("all", "acc"):
        raise ValueError(f"gravity_channels = {gravity_channels!r}: choose 'all' or 'acc'")
    names = list(channel_names or [])
    picked = [i for i, name in enumerate(names) if name.startswith("acc_")]
    if gravity_channels == "all" or len(picked) == inputs.shape[-1]:
        return means
    if not picked:
        raise ValueError(f"gravity_channels = 'acc' feeds the gravity branch from accelerometer channels (named "
                         f"acc_*), and the data's channels are {names or 'unnamed'}; set model.gravity_channels = 'all'")
    count = inputs.shape[-1]
    column = layers.Reshape((count, 1))(means)
    starts = [i for i in picked if i - 1 not in picked]
    ends = [i + 1 for i in picked if i + 1 not in picked]
    parts = [layers.Cropping1D((start, count - end))(column) for start, end in zip(starts, ends)]
    joined = parts[0] if len(parts) == 1 else layers.Concatenate(axis=1)(parts)
    return layers.Reshape((len(picked),), name="acc_means")(joined)


def mlp(inputs, n_outputs, head, units, dropout):
    x = layers.Flatten()(inputs)
    for u in units:
        x = layers.Dense(u, use_bias=False)(x)
        x = layers.BatchNormalization()(x)
        x = layers.ReLU()(x)
        x = layers.Dropout(dropout)(x)
    return _head(x, n_outputs, head)


def lstm(inputs, n_outputs, head, units, dropout):
    x = inputs
    for i, u in enumerate(units):
        x = layers.LSTM(u, return_sequences=i < len(units) - 1)(x)
    x = layers.Dropout(dropout)(x)
    return _head(x, n_outputs, head)


def convlstm(inputs, n_outputs, head, filters, kernels, lstm_units, dropout):
    """Conv1D feature extraction, then an LSTM over the shortened sequence (DeepConvLSTM's shape)."""
    x = inputs
    for f, k in zip(filters, kernels):
        x = _conv_block(x, f, k)
    x = layers.LSTM(lstm_units)(x)
    x = layers.Dropout(dropout)(x)
    return _head(x, n_outputs, head)


def build_model(
    family: str, window: int, channels: int, n_outputs: int, params: dict | None = None,
    head: str = "softmax", batch_size: int | None = None, channel_names: list[str] | None = None,
    target: dict | None = None,
) -> keras.Model:
    """`target` (a regression contract's): the head predicts (value - offset) / scale and a last, weightless
    layer turns it into the value, so Keras reports in the target's unit; the .tflite export leaves it out
    and the devices apply the contract's scale and offset instead. `params["members"]` = K > 1: K copies of
    the network, named member1 .. memberK, their outputs averaged (train/ensemble.py trains each apart)."""
    settings = dict(params or {})
    members = settings.pop("members", 1)
    inputs = keras.Input(shape=(window, channels), batch_size=batch_size, name="window")
    if members == 1:
        return keras.Model(inputs, _network(family, inputs, n_outputs, settings, head, channel_names, target), name=family)
    networks = []
    for i in range(1, members + 1):
        member_inputs = keras.Input(shape=(window, channels), batch_size=batch_size, name="window")
        outputs = _network(family, member_inputs, n_outputs, settings, head, channel_names, target)
        networks.append(keras.Model(member_inputs, outputs, name=f"member{i}")(inputs))
    return keras.Model(inputs, layers.Average(name="members_mean")(networks), name=f"{family}_members")


def _network(family: str, inputs, n_outputs: int, params: dict, head: str, channel_names: list[str] | None,
             target: dict | None):
    if family not in FAMILIES:
        raise ValueError(f"[model] family '{family}' is not one of {FAMILIES}")
    settings = dict(DEFAULTS[family])
    unknown = set(params) - set(settings)
    if unknown:
        raise ValueError(f"[model] unknown keys {sorted(unknown)} for {family}; known: {sorted(settings)} and members")
    settings.update(params)
    if family == "cnn":
        settings["channel_names"] = channel_names
    try:
        outputs = globals()[family](inputs, n_outputs, head, **settings)
    except (TypeError, ValueError, OverflowError) as error:  # e.g. filters = "wide" or a negative dropout from --set
        shown = {k: v for k, v in settings.items() if k != "channel_names"}
        raise ValueError(f"[model] {shown} does not build a {family}: {str(error)[:300]}") from None
    if target:
        outputs = layers.Rescaling(target["scale"], target["offset"], name="target_units")(outputs)
    return outputs


def count_macs(model: keras.Model) -> int:
    """Multiply-accumulates of one inference (batch 1), counted per layer: Conv1D, Dense and LSTM, which
    dominate; pooling, BatchNorm (folded at conversion) and activations are left out."""
    macs = 0
    for layer in model.layers:
        if isinstance(layer, keras.Model):  # a member of an averaged model
            macs += count_macs(layer)
        elif isinstance(layer, layers.SeparableConv2D):  # k taps per input channel, then a 1x1 mix
            steps, taps = int(np.prod(layer.output_shape[1:-1])), int(np.prod(layer.kernel_size))
            macs += steps * layer.input_shape[-1] * (taps + layer.output_shape[-1])
        elif isinstance(layer, (layers.Conv1D, layers.Conv2D)):
            steps = int(np.prod(layer.output_shape[1:-1]))
            macs += steps * int(np.prod(layer.kernel_size)) * layer.input_shape[-1] * layer.output_shape[-1]
        elif isinstance(layer, layers.Dense):
            macs += layer.input_shape[-1] * layer.units
        elif isinstance(layer, layers.LSTM):
            steps, features = layer.input_shape[1], layer.input_shape[2]
            macs += steps * 4 * (features + layer.units) * layer.units
    return int(macs)
