"""The robustness cases do exactly what their names say, and the report adds up."""
import numpy as np
import pytest

from device_runtime.contract import Contract, load_contract
from device_runtime.interpreter import Classifier
from train.robustness import perturbations, robustness


def contract(gyro_unit="rad/s"):
    channels = ["acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z"]
    return Contract(sample_rate_hz=50.0, channels=channels, units=["g"] * 3 + [gyro_unit] * 3, window=128,
                    stride=64, class_names=["a", "b"], norm_mean=[0.0] * 6, norm_std=[1.0] * 6)


@pytest.fixture(scope="module")
def raw():
    return np.random.default_rng(1).normal(size=(20, 128, 6)).astype(np.float32)


@pytest.mark.parametrize("unit, per_rad", [("rad/s", 1.0), ("deg/s", 180 / np.pi)])
def test_gyro_bias_is_a_constant_in_the_channel_unit(raw, unit, per_rad):
    cases = perturbations(raw, contract(unit))
    shift = cases["gyro_bias_0.1rad_s"][1] - raw
    np.testing.assert_allclose(np.abs(shift[:, :, 3:]), 0.1 * per_rad, rtol=1e-5)
    assert not shift[:, :, :3].any()


def test_demeaned_gyro_rotations_and_rate(raw):
    cases = perturbations(raw, contract())
    np.testing.assert_allclose(cases["gyro_mean_removed"][1][:, :, 3:].mean(axis=1), 0, atol=1e-5)
    rotated = cases["rotated_10deg_z"][1]
    assert cases["rotated_10deg_z"][0] == "rotation"
    np.testing.assert_allclose(np.linalg.norm(rotated[:, :, :3], axis=2), np.linalg.norm(raw[:, :, :3], axis=2), rtol=1e-5)
    np.testing.assert_allclose(rotated[:, :, 2], raw[:, :, 2], rtol=1e-6)  # z is the axis
    slow = cases["sample_rate_-3pct"][1]
    np.testing.assert_allclose(slow[:, 0], raw[:, 0])  # the same first sample, then stretched
    assert not np.allclose(slow, raw)


def test_report_on_a_real_model_and_real_windows(tiny_model, hapt_test_raw):
    model_contract = load_contract(tiny_model)
    x, y = hapt_test_raw(model_contract)
    report = robustness(Classifier(tiny_model, model_contract), model_contract, x, y)
    sensor = {k: v for k, v in report.items() if isinstance(v, dict) and "drop_points" in v}
    assert len(sensor) == 9 and len(report["rotation"]) == 6
    assert report["worst_drop_points"] == max(v["drop_points"] for v in sensor.values())
    assert 0.7 < report["clean"]["accuracy"] < 0.9  # the tiny fixture model: 79%
    assert report["gyro_bias_0.3rad_s"]["accuracy"] < report["clean"]["accuracy"]
