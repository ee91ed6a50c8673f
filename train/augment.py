"""Training-time augmentation of normalised windows: what a new wearer or a new sensor changes, so the
model stops relying on it.

Runs inside the tf.data pipeline on batches of model inputs (z-scores, then any fine-motion inputs); a
change that is physical (a rotated mount, another pace) goes back to raw units first and through the contract's own
arithmetic again, so the model sees what that sensor would have delivered.
"""
from __future__ import annotations

import numpy as np

from device_runtime.contract import Contract
from train.robustness import bias_scale, triad
from train.run_config import TrainConfig


def augmenter(config: TrainConfig, contract: Contract):
    """(x, y, *rest) -> the same batch augmented as `config` asks."""
    import tensorflow as tf

    bias = tf.constant(bias_scale(contract, "gyro", config.augment_gyro_bias)  # normalised units per channel
                       + bias_scale(contract, "acc", config.augment_acc_bias))
    physical = [rotator(contract, config)] if rotation_limits(contract, config).any() else []
    physical += [speeder(contract, config.augment_speed)] if config.augment_speed else []
    to_raw, to_inputs = contract_arithmetic(contract)
    warp = warper(contract.window, config.augment_warp) if config.augment_warp else None

    def augment(x, y, *rest):
        """Scale the motion, not the posture: the window's mean (where gravity falls on the sensor, which
        tells sitting from standing) is kept. A random gyro bias per window (augment_gyro_bias) makes the
        gyro's mean, which real sensors get wrong, useless as a cue; an accelerometer bias (augment_acc_bias)
        teaches that a slightly shifted gravity vector is the same posture; a small random rotation of the
        sensor (augment_rotation, per class augment_rotation_classes) that a wearer's mount differs from the
        recordings'; a random pace (augment_speed) that people walk and climb at their own cadence; a gain
        that drifts along the window (augment_warp) that no two steps land alike."""
        if physical:
            raw = to_raw(x)
            for change in physical:
                raw = change(raw, y)
            x = to_inputs(raw)
        scale = tf.random.uniform((tf.shape(x)[0], 1, 1), 1 - config.augment_scale, 1 + config.augment_scale)
        if warp is not None:
            scale *= warp(tf.shape(x)[0])
        mean = tf.reduce_mean(x, axis=1, keepdims=True)
        x = mean + (x - mean) * scale + tf.random.normal(tf.shape(x), stddev=config.augment_noise)
        if config.augment_gyro_bias or config.augment_acc_bias:
            x += tf.random.uniform((tf.shape(x)[0], 1, x.shape[2]), -1.0, 1.0) * bias
        return (x, y, *rest)

    return augment


def contract_arithmetic(contract: Contract):
    """(to_raw, to_inputs): model inputs -> raw sensor units and back through the contract's own arithmetic
    (z-scores, then the fine-motion inputs recomputed from the raw window), in TensorFlow."""
    import tensorflow as tf

    n = len(contract.channels)
    mean, std = (tf.constant(np.asarray(v, np.float32)) for v in (contract.norm_mean, contract.norm_std))
    fine = contract.fine_motion_indices
    limit = float(contract.fine_motion["limit"]) if fine else 0.0
    fine_scale = tf.constant(np.asarray(contract.fine_motion["scale"] if fine else [], np.float32))

    def to_inputs(raw):
        inputs = [(raw - mean) / std]
        if fine:
            motion = tf.gather(raw, fine, axis=2)
            motion = (motion - tf.reduce_mean(motion, axis=1, keepdims=True)) / fine_scale
            inputs.append(tf.clip_by_value(motion, -limit, limit))
        if contract.vertical:
            inputs.append(_vertical(tf.gather(raw, contract.vertical_indices, axis=2), contract.vertical))
        return tf.concat(inputs, axis=2)

    return (lambda x: x[:, :, :n] * std + mean), to_inputs


def _vertical(triad, vertical: dict):
    """device_runtime/preprocess.py's vertical inputs, in TensorFlow (training only: rounding may differ)."""
    import tensorflow as tf

    gravity = tf.reduce_mean(triad, axis=1, keepdims=True)
    motion = triad - gravity
    norm = tf.norm(gravity, axis=2, keepdims=True)
    up = tf.math.divide_no_nan(tf.reduce_sum(motion * gravity, axis=2, keepdims=True), norm)
    side = tf.sqrt(tf.maximum(tf.reduce_sum(motion * motion, axis=2, keepdims=True) - up * up, 0.0))
    return (tf.concat([up, side], axis=2) - vertical["mean"]) / vertical["std"]


def rotation_limits(contract: Contract, config: TrainConfig) -> np.ndarray:
    """The largest turn of each class's training windows, in radians: augment_rotation, or the class's own
    angle in augment_rotation_classes. Refused (naming the setting) for a class the data does not have, for
    a regression run (no classes), or if no accelerometer or gyro triad can be turned."""
    turns = config.augment_rotation_classes
    if turns and contract.task == "regression":
        raise ValueError("train.augment_rotation_classes turns the windows of named classes; a regression run has "
                         "none (use train.augment_rotation)")
    unknown = sorted(set(turns) - set(contract.class_names))
    if unknown:
        raise ValueError(f"train.augment_rotation_classes: {unknown} not among the classes {contract.class_names}; "
                         "name the data's own moving classes, or --set 'train.augment_rotation_classes={}'")
    classes = contract.class_names if contract.task == "classification" else [""]
    degrees = np.array([turns.get(name, config.augment_rotation) for name in classes], np.float64)
    rotation_triads(contract, float(degrees.max()))
    return np.radians(degrees).astype(np.float32)


def rotation_triads(contract: Contract, degrees: float) -> list[list[int]]:
    """The accelerometer and gyro triads a rotation turns together; refused if there are none or an axis's
    unit differs from its triad's (a rotation mixes the axes)."""
    triads = [t for t in (triad(contract, "acc"), triad(contract, "gyro")) if t]
    if degrees and not triads:
        raise ValueError(f"train.augment_rotation = {degrees:g} turns acc_x/y/z and gyro_x/y/z, and the data's "
                         f"channels are {contract.channels}; set it to 0")
    for t in triads:
        if len({contract.units[c] for c in t}) > 1:
            raise ValueError(f"train.augment_rotation: {[contract.channels[c] for c in t]} have different units "
                             f"{[contract.units[c] for c in t]}; a rotation needs one unit per sensor")
    return triads


def rotator(contract: Contract, config: TrainConfig):
    """(raw windows, labels) -> the same windows as if the sensor had been turned by a random angle, up to
    the window's class's limit (`rotation_limits`), about a random axis (one rotation per window, the same
    for every sensor)."""
    import tensorflow as tf

    per_class = rotation_limits(contract, config)
    limits = tf.constant(per_class)
    triads = rotation_triads(contract, float(np.degrees(per_class.max())))
    turned_channels = sum(triads, [])
    others = np.array([c for c in range(len(contract.channels)) if c not in turned_channels], np.int32)
    order = np.argsort(turned_channels + others.tolist())  # from [turned triads, others] back to the channels' order

    def rotate(raw, y):
        largest = tf.gather(limits, tf.cast(y, tf.int32)) if len(set(per_class)) > 1 else limits[0]
        matrices = _random_rotations(tf.shape(raw)[0], largest)
        turned = [tf.einsum("btj,bij->bti", tf.gather(raw, t, axis=2), matrices) for t in triads]
        return tf.gather(tf.concat([*turned, tf.gather(raw, others, axis=2)], axis=2), order, axis=2)

    return rotate


def speeder(contract: Contract, fraction: float):
    """Batch of raw windows -> the same windows as if the motion had gone 1 +- `fraction` times as fast
    (one pace per window): resampled about the window's centre by linear interpolation, reflected at its
    ends where a faster pace needs samples the window does not hold."""
    import tensorflow as tf

    last = contract.window - 1
    steps = tf.range(contract.window, dtype=tf.float32) - last / 2

    def speed(raw, y):
        pace = tf.random.uniform((tf.shape(raw)[0], 1), 1 - fraction, 1 + fraction)
        at = tf.abs(last / 2 + steps * pace)  # reflected at the first sample ...
        at = last - tf.abs(last - at)  # ... and at the last
        before = tf.clip_by_value(tf.floor(at), 0, last - 1)
        weight = (at - before)[:, :, None]
        before = tf.cast(before, tf.int32)
        return (1 - weight) * tf.gather(raw, before, batch_dims=1) + weight * tf.gather(raw, before + 1, batch_dims=1)

    return speed


WARP_KNOTS = 5  # a gain drawn every quarter window (0.64 s at the default 2.56 s: about a step)


def warper(window: int, sigma: float):
    """batch -> (batch, window, 1) gains: WARP_KNOTS values drawn about 1 (standard deviation `sigma`,
    kept within 1 +- 2 sigma) and interpolated linearly along the window (magnitude warping)."""
    import tensorflow as tf

    at = tf.linspace(0.0, WARP_KNOTS - 1.0, window)
    before = tf.minimum(tf.cast(tf.floor(at), tf.int32), WARP_KNOTS - 2)
    weight = (at - tf.cast(before, tf.float32))[None, :, None]

    def gains(batch):
        knots = 1 + tf.random.truncated_normal((batch, WARP_KNOTS, 1), stddev=sigma)
        return (1 - weight) * tf.gather(knots, before, axis=1) + weight * tf.gather(knots, before + 1, axis=1)

    return gains


def _random_rotations(batch, largest):
    """(batch, 3, 3) rotation matrices: a uniformly random axis, an angle uniform in [-largest, largest]
    (radians: one number, or one per window) (Rodrigues' formula)."""
    import tensorflow as tf

    axis = tf.math.l2_normalize(tf.random.normal((batch, 3)), axis=1)
    largest = tf.reshape(largest, (-1, 1, 1))
    angle = tf.random.uniform((batch, 1, 1), -largest, largest)
    zero = tf.zeros((batch,))
    kx, ky, kz = axis[:, 0], axis[:, 1], axis[:, 2]
    k = tf.reshape(tf.stack([zero, -kz, ky, kz, zero, -kx, -ky, kx, zero], axis=1), (batch, 3, 3))
    return tf.eye(3, batch_shape=[batch]) + tf.sin(angle) * k + (1 - tf.cos(angle)) * (k @ k)
