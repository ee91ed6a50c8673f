"""Recipe options against the gyro-mean shortcut: the gravity branch from the accelerometer only, and a
random gyro (or accelerometer) bias in training, each the size it says in the channel's own unit."""
import dataclasses

import numpy as np
import pytest

from device_runtime.contract import Contract
from train.robustness import bias_scale
from train.run_config import TrainConfig

CHANNELS = ["acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z"]


def contract(gyro_unit="deg/s", channels=CHANNELS):
    std = [0.5, 0.5, 0.5, 20.0, 30.0, 40.0][:len(channels)]
    return Contract(sample_rate_hz=50.0, channels=channels, units=["g"] * 3 + [gyro_unit] * 3, window=16, stride=8,
                    class_names=["a", "b"], norm_mean=[0.0] * len(channels), norm_std=std)


@pytest.mark.parametrize("unit, per_rad", [("rad/s", 1.0), ("deg/s", 180 / np.pi), ("°/s", 180 / np.pi), ("dps", 180 / np.pi)])
def test_gyro_bias_in_the_channel_unit_over_its_norm_std(unit, per_rad):
    scale = bias_scale(contract(unit), "gyro", 0.1)
    np.testing.assert_allclose(scale, [0, 0, 0, 0.1 * per_rad / 20, 0.1 * per_rad / 30, 0.1 * per_rad / 40], rtol=1e-6)


def test_acc_bias_in_the_channel_unit_over_its_norm_std():
    np.testing.assert_allclose(bias_scale(contract(), "acc", 0.05), [0.1, 0.1, 0.1, 0, 0, 0], rtol=1e-6)
    in_ms2 = Contract(sample_rate_hz=50.0, channels=CHANNELS[:3], units=["m/s^2"] * 3, window=16, stride=8,
                      class_names=["a", "b"], norm_mean=[0.0] * 3, norm_std=[9.80665] * 3)
    np.testing.assert_allclose(bias_scale(in_ms2, "acc", 0.05), [0.05] * 3, rtol=1e-6)
    for unit, per_g in (("m/s²", 9.80665), ("mg", 1000.0)):  # had been taken as g: a bias 1000 times too small in mg
        other = Contract(sample_rate_hz=50.0, channels=CHANNELS[:3], units=[unit] * 3, window=16, stride=8,
                         class_names=["a", "b"], norm_mean=[0.0] * 3, norm_std=[per_g] * 3)
        np.testing.assert_allclose(bias_scale(other, "acc", 0.05), [0.05] * 3, rtol=1e-6)


def test_gyro_bias_without_a_gyro_is_refused():
    acc_only = Contract(sample_rate_hz=50.0, channels=CHANNELS[:3], units=["g"] * 3, window=16, stride=8,
                        class_names=["a", "b"], norm_mean=[0.0] * 3, norm_std=[1.0] * 3)
    assert not bias_scale(acc_only, "gyro", 0.0).any()
    with pytest.raises(ValueError, match="augment_gyro_bias = 0.1 adds a bias to gyro_x"):
        bias_scale(acc_only, "gyro", 0.1)


@pytest.mark.slow
def test_the_augmenter_adds_a_constant_bias_per_window_up_to_the_size_given():
    from train.augment import augmenter
    from train.run_config import TrainConfig

    config = TrainConfig(augment_scale=0.0, augment_noise=0.0, augment_gyro_bias=0.1)
    x = np.random.default_rng(0).normal(size=(2000, 16, 6)).astype(np.float32)
    shift = augmenter(config, contract())(x, None)[0].numpy() - x
    np.testing.assert_allclose(shift, np.repeat(shift[:, :1], 16, axis=1), atol=1e-5)  # constant in time
    assert np.abs(shift[:, :, :3]).max() < 1e-5  # the accelerometer untouched (rounding aside)
    bound = 0.1 * 180 / np.pi / np.array([20.0, 30.0, 40.0])
    largest = np.abs(shift[:, 0, 3:]).max(axis=0)
    assert np.all(largest <= bound * (1 + 1e-5)) and np.all(largest > 0.95 * bound)
    acc_only = TrainConfig(augment_scale=0.0, augment_noise=0.0, augment_acc_bias=0.05)
    shift = augmenter(acc_only, contract())(x, None)[0].numpy() - x
    largest = np.abs(shift[:, 0]).max(axis=0)  # 0.05 g over a norm_std of 0.5 g on the accelerometer, 0 on the gyro
    assert np.all(largest[:3] <= 0.1 * (1 + 1e-5)) and np.all(largest[:3] > 0.095) and largest[3:].max() < 1e-5


@pytest.mark.slow
def test_acc_gravity_branch_sees_three_channels_and_converts_to_int8():
    from convert.quantize import convert_model
    from device_runtime.interpreter import Classifier
    from train.models import build_model
    from train.robustness import device_predictor

    params = {"filters": [4, 8], "kernels": [5, 5], "gravity_channels": "acc"}
    shuffled = ["gyro_x", "acc_x", "acc_y", "gyro_y", "acc_z", "gyro_z"]
    assert build_model("cnn", 16, 6, 2, params, channel_names=shuffled).get_layer("gravity").kernel.shape == (3, 2)
    assert build_model("cnn", 16, 6, 2, {**params, "gravity_channels": "all"}, channel_names=CHANNELS
                       ).get_layer("gravity").kernel.shape == (6, 2)
    with pytest.raises(ValueError, match="gravity_channels = 'acc' feeds the gravity branch from accelerometer"):
        build_model("cnn", 16, 3, 2, params, channel_names=CHANNELS[3:])
    model = build_model("cnn", 16, 6, 2, params, batch_size=1, channel_names=CHANNELS)
    x = np.random.default_rng(0).normal(size=(64, 16, 6)).astype(np.float32)
    int8 = convert_model(model, "int8", x)
    from convert.quantize import quantization_of

    quantized = contract("rad/s").with_quantization(quantization_of(int8))
    agree = device_predictor(Classifier(int8, quantized), quantized)(x).argmax(1) == model.predict(x, verbose=0).argmax(1)
    assert agree.mean() > 0.9


@pytest.mark.slow
def test_a_bias_on_a_missing_sensor_is_refused_before_a_run_folder_exists(tmp_path, capsys):
    from conftest import write

    from har import main
    for subject in ["a", "b", "c", "d"]:
        rows = "".join(f"{i * 20},{i % 7},1,0.5,{'walk' if i < 100 else 'sit'}\n" for i in range(200))
        write(tmp_path / "data" / f"{subject}.csv", "timestamp_ms,acc_x[g],acc_y[g],acc_z[g],activity\n" + rows)
    args = ["train", "--data", str(tmp_path / "data"), "--format", "csv", "--window", "20", "--stride", "10",
            "--test-subjects", "d", "--validation-subjects", "c", "--epochs", "1", "--runs", str(tmp_path / "runs"),
            "--name", "x", "--set", "train.augment_gyro_bias=0.1"]
    assert main(args) == 2
    assert "augment_gyro_bias = 0.1 adds a bias to gyro_x" in capsys.readouterr().err
    assert not (tmp_path / "runs" / "x").exists()  # nothing left to block the corrected rerun


@pytest.mark.slow
def test_rotation_turns_both_sensors_by_at_most_the_angle_and_recomputes_every_input():
    """The rotated batch is what the contract's arithmetic gives on the turned raw windows (fine motion too),
    each window's accelerometer and gyro turned by one rotation of at most the angle asked."""
    import tensorflow as tf

    from train.augment import augmenter

    fine = Contract(sample_rate_hz=50.0, channels=CHANNELS, units=["g"] * 3 + ["rad/s"] * 3, window=16, stride=8,
                    class_names=["a", "b"], norm_mean=[0.1, -0.2, 0.9, 0.01, 0.0, -0.02], norm_std=[0.4, 0.3, 0.5, 0.6, 0.7, 0.8],
                    fine_motion={"channels": ["gyro_x", "acc_z"], "scale": [0.02, 0.01], "limit": 8.0})
    rng = np.random.default_rng(1)
    raw = (rng.normal(size=(500, 16, 6)) * [0.05, 0.05, 0.05, 0.3, 0.3, 0.3] + [0, 0, 1, 0, 0, 0]).astype(np.float32)
    tf.random.set_seed(0)
    config = TrainConfig(augment_scale=0.0, augment_noise=0.0, augment_rotation=10.0)
    out = augmenter(config, fine)(tf.constant(fine.normalise(raw)), None)[0].numpy()
    turned = out[:, :, :6] * np.float32(fine.norm_std) + np.float32(fine.norm_mean)
    np.testing.assert_allclose(fine.normalise(turned), out, atol=2e-4)  # fine motion recomputed from the turned raw
    for a, b in ((raw[:, :, :3], turned[:, :, :3]), (raw[:, :, 3:], turned[:, :, 3:])):
        np.testing.assert_allclose(np.linalg.norm(a, axis=2), np.linalg.norm(b, axis=2), rtol=1e-4)  # a rotation
    matrices = [np.linalg.lstsq(raw[i, :, :3], turned[i, :, :3], rcond=None)[0] for i in range(len(raw))]
    gyro = [np.linalg.lstsq(raw[i, :, 3:], turned[i, :, 3:], rcond=None)[0] for i in range(len(raw))]
    np.testing.assert_allclose(matrices, gyro, atol=1e-3)  # one rotation for both sensors
    angles = np.degrees(np.arccos(np.clip((np.trace(matrices, axis1=1, axis2=2) - 1) / 2, -1, 1)))
    assert angles.max() <= 10.05 and angles.max() > 9.0 and np.median(angles) > 3.0


@pytest.mark.slow
def test_speed_resamples_each_window_at_one_pace_within_the_bound_and_recomputes_every_input():
    """On a ramp (sample t holds t) the resampled raw window shows where each sample was read: about the
    centre at one pace per window, within 1 +- the fraction, reflected at the ends; every input is what the
    contract's arithmetic gives on that raw window."""
    import tensorflow as tf

    from train.augment import augmenter

    fine = Contract(sample_rate_hz=50.0, channels=CHANNELS, units=["g"] * 3 + ["rad/s"] * 3, window=16, stride=8,
                    class_names=["a", "b"], norm_mean=[0.1, -0.2, 0.9, 0.01, 0.0, -0.02], norm_std=[4, 3, 5, 6, 7, 8],
                    fine_motion={"channels": ["gyro_x", "acc_z"], "scale": [2.0, 1.0], "limit": 8.0})
    raw = np.broadcast_to(np.arange(16, dtype=np.float32)[None, :, None], (300, 16, 6))
    tf.random.set_seed(0)
    config = TrainConfig(augment_scale=0.0, augment_noise=0.0, augment_speed=0.2)
    out = augmenter(config, fine)(tf.constant(fine.normalise(raw)), None)[0].numpy()
    read = out[:, :, :6] * np.float32(fine.norm_std) + np.float32(fine.norm_mean)
    np.testing.assert_allclose(fine.normalise(read), out, atol=2e-4)  # fine motion recomputed from the raw window
    np.testing.assert_allclose(read, read[:, :, :1].repeat(6, axis=2), atol=1e-4)  # one pace for every channel
    pace = (read[:, 9, 0] - read[:, 6, 0]) / 3
    assert pace.min() >= 0.8 - 1e-4 and pace.max() <= 1.2 + 1e-4 and pace.min() < 0.85 and pace.max() > 1.15
    at = 7.5 + (np.arange(16) - 7.5) * pace[:, None]
    np.testing.assert_allclose(read[:, :, 0], 15 - np.abs(15 - np.abs(at)), atol=1e-4)  # reflected at both ends


@pytest.mark.slow
def test_warp_scales_each_windows_motion_by_one_gain_curve_through_five_knots_and_keeps_its_mean():
    """augment_warp: every input's motion about its window mean times one gain per sample, the same for every
    channel, linear between 5 knots (the window's ends and quarters) drawn about 1 within 1 +- 2 sigma."""
    import tensorflow as tf

    from train.augment import augmenter

    plain = contract("rad/s")
    signs = np.where(np.arange(17) % 2, 1.0, -1.0)[None, :, None]  # one window of 17 samples: knots 4 apart
    x = np.broadcast_to(signs * [1, 2, 3, 4, 5, 6] + np.arange(6), (500, 17, 6)).astype(np.float32)
    tf.random.set_seed(0)
    config = TrainConfig(augment_scale=0.0, augment_noise=0.0, augment_warp=0.2)
    out = augmenter(config, dataclasses.replace(plain, window=17))(tf.constant(x), None)[0].numpy()
    mean = x.mean(axis=1, keepdims=True)
    gain = (out - mean) / (x - mean)
    np.testing.assert_allclose(gain, gain[:, :, :1].repeat(6, axis=2), rtol=1e-5)  # one curve for every channel
    knots = gain[:, ::4, 0]
    np.testing.assert_allclose(gain[:, 2::4, 0], (knots[:, :-1] + knots[:, 1:]) / 2, rtol=1e-5)  # linear between
    assert knots.min() >= 0.6 - 1e-5 and knots.max() <= 1.4 + 1e-5 and 0.15 < knots.std() < 0.2
    assert np.abs(knots - knots[:, :1]).max() > 0.3  # the gain drifts within a window


def _turn_angles(raw: np.ndarray, turned: np.ndarray) -> np.ndarray:
    """Each window's rotation angle in degrees, from a least-squares fit of the turned accelerometer."""
    matrices = [np.linalg.lstsq(raw[i, :, :3], turned[i, :, :3], rcond=None)[0] for i in range(len(raw))]
    return np.degrees(np.arccos(np.clip((np.trace(matrices, axis1=1, axis2=2) - 1) / 2, -1, 1)))


@pytest.mark.slow
def test_each_class_is_turned_by_at_most_its_own_angle():
    """augment_rotation_classes: class "b"'s windows turn up to 40 degrees, the others up to augment_rotation."""
    import tensorflow as tf

    from train.augment import augmenter

    rng = np.random.default_rng(2)
    raw = (rng.normal(size=(400, 16, 6)) * [0.05, 0.05, 0.05, 0.3, 0.3, 0.3] + [0, 0, 1, 0, 0, 0]).astype(np.float32)
    labels = np.arange(400) % 2
    plain = contract("rad/s")
    tf.random.set_seed(0)
    config = TrainConfig(augment_scale=0.0, augment_noise=0.0, augment_rotation=5.0, augment_rotation_classes={"b": 40})
    out = augmenter(config, plain)(tf.constant(plain.normalise(raw)), tf.constant(labels))[0].numpy()
    angles = _turn_angles(raw, out * np.float32(plain.norm_std) + np.float32(plain.norm_mean))
    assert angles[labels == 0].max() <= 5.05 and angles[labels == 0].max() > 4.5
    assert angles[labels == 1].max() <= 40.05 and angles[labels == 1].max() > 36.0


def test_class_rotations_are_refused_for_unknown_classes_regression_and_angles_outside_0_180():
    from train.augment import rotation_limits

    np.testing.assert_allclose(rotation_limits(contract(), TrainConfig(augment_rotation=30, augment_rotation_classes={"a": 90})),
                               np.radians([90, 30]), rtol=1e-6)
    with pytest.raises(ValueError, match=r"augment_rotation_classes: \['walk'\] not among the classes \['a', 'b'\]"):
        rotation_limits(contract(), TrainConfig(augment_rotation_classes={"walk": 60}))
    regression = Contract(sample_rate_hz=50.0, channels=CHANNELS, units=["g"] * 3 + ["rad/s"] * 3, window=16, stride=8,
                          class_names=["speed"], norm_mean=[0.0] * 6, norm_std=[1.0] * 6, task="regression")
    with pytest.raises(ValueError, match="a regression run has none"):
        rotation_limits(regression, TrainConfig(augment_rotation_classes={"speed": 60}))
    for bad in ({"a": 200}, {"a": -1}, {"a": "60"}, {"a": True}, {"a": float("nan")}):
        with pytest.raises(ValueError, match="augment_rotation_classes"):
            TrainConfig.from_dict({"augment_rotation_classes": bad})
    with pytest.raises(ValueError, match="augment_rotation_classes"):
        TrainConfig.from_dict({"augment_rotation_classes": [60]})


def test_rotation_without_a_triad_is_refused():
    from train.augment import rotation_triads

    assert rotation_triads(contract(), 5.0) == [[0, 1, 2], [3, 4, 5]]
    with pytest.raises(ValueError, match="augment_rotation = 5 turns acc_x/y/z and gyro_x/y/z"):
        rotation_triads(Contract(sample_rate_hz=50.0, channels=["acc_x", "acc_y"], units=["g"] * 2, window=16, stride=8,
                                 class_names=["a", "b"], norm_mean=[0.0] * 2, norm_std=[1.0] * 2), 5.0)
