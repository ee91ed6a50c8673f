"""Regression without TensorFlow: the cadence target, the contract's target field, the runtime's value
lines and smoothing, and the C de-normalisation against Python's, bit for bit."""
import json
import shutil
import subprocess

import numpy as np
import pytest
from conftest import require

from device_runtime import preprocess
from device_runtime.contract import Contract, ContractError
from device_runtime.smoothing import make_value_smoother
from device_runtime.stream import WindowStream
from firmware_gen.generate import contract_values, environment
from train.data.recording import Recording
from train.data.targets import ANALYSIS_SECONDS, cadence

RATE = 50.0
TARGET = {"unit": "steps/min", "scale": 10.1027, "offset": 102.375}


def regression_contract(**changes) -> Contract:
    fields = dict(sample_rate_hz=RATE, channels=["acc_x", "acc_y", "acc_z"], units=["g"] * 3, window=8, stride=4,
                  class_names=["cadence"], norm_mean=[0.0] * 3, norm_std=[1.0] * 3, task="regression",
                  quantization={"input_scale": 0.05, "input_zero_point": 0, "output_scale": 0.0234375,
                                "output_zero_point": -3}, target=TARGET)
    return Contract(**(fields | changes))


def walking_recording(steps_per_minute: list[float], seconds: float = 20.0) -> Recording:
    """Segments of walking whose acceleration magnitude beats at each given cadence, then sitting."""
    n = int(seconds * RATE)
    t = np.arange(n) / RATE
    parts = [1.0 + 0.3 * np.sin(2 * np.pi * spm / 60.0 * t) for spm in steps_per_minute] + [np.ones(n)]
    magnitude = np.concatenate(parts)
    samples = np.stack([0.2 * magnitude, 0.3 * magnitude, np.sqrt(1 - 0.13) * magnitude], axis=1)
    labels = np.repeat(np.arange(len(parts), dtype=np.int16), n)
    names = tuple(f"WALKING_{i}" for i in range(len(steps_per_minute))) + ("SITTING",)
    return Recording("synthetic", "1", RATE, ("acc_x", "acc_y", "acc_z"), ("g",) * 3, samples.astype(np.float32),
                     labels, names)


def test_cadence_is_the_exact_step_frequency_inside_walking_segments_only():
    rec = walking_recording([108.0, 120.0])
    values = cadence(rec)
    n, half = int(20 * RATE), int(ANALYSIS_SECONDS * RATE / 2)
    for segment, expected in enumerate([108.0, 120.0]):
        inside = values[segment * n + half : (segment + 1) * n - half + 1]
        assert np.all(inside == expected)
        assert np.isnan(values[segment * n : segment * n + half]).all()  # too near the segment's start
    assert np.isnan(values[2 * n :]).all()  # sitting has no cadence


def test_contract_target_field_is_validated_and_optional():
    contract = regression_contract()
    assert Contract.from_json(contract.to_json()) == contract
    old = json.loads(contract.to_json())
    del old["target"]
    assert Contract.from_dict(old).target is None  # a version-1 contract without the field still reads
    for bad, word in [({"unit": "x", "scale": 0.0, "offset": 1.0}, "target.scale"),
                      ({"unit": "x", "scale": 1.0, "offset": float("nan")}, "target.offset"),
                      ({"unit": 5, "scale": 1.0, "offset": 0.0}, "target.unit"),
                      ({"unit": "x", "scale": 1.0}, "exactly")]:
        with pytest.raises(ContractError, match=word):
            regression_contract(target=bad)
    with pytest.raises(ContractError, match="regression models only"):
        regression_contract(task="classification", class_names=["a", "b"])


class FixedOutputs:
    """A stand-in model: each window's (dequantized) output, in turn."""

    def __init__(self, outputs):
        self.outputs = iter(outputs)

    def __call__(self, window):
        return np.array([next(self.outputs)], np.float32), 0.1


@pytest.mark.parametrize("kind,expected", [("mean", [0.0, 0.5, 1.0]), ("median", [0.0, 0.5, 1.0]),
                                           ("none", [0.0, 1.0, 2.0])])
def test_runtime_prints_value_and_unit_smoothed_over_windows(kind, expected):
    contract = regression_contract()
    z = (np.array([0.0, 1.0, 2.0], np.float32) - TARGET["offset"]) / TARGET["scale"]
    stream = WindowStream(FixedOutputs(z.astype(np.float32)), contract, make_value_smoother(kind, 3))
    lines = [line for i in range(16) if (line := stream.push(i * 20.0, np.zeros(3, np.float32)))]
    assert [set(line) for line in lines] == [{"t_ms", "start_ms", "value", "unit", "window_value", "invoke_ms"}] * 3
    assert all(line["unit"] == "steps/min" for line in lines)
    assert [line["value"] for line in lines] == pytest.approx(expected, abs=1e-4)


def test_median_resists_one_outlier_window():
    smoother = make_value_smoother("median", 3)
    assert [smoother.update(v) for v in (100.0, 300.0, 104.0)] == [100.0, 200.0, 104.0]
    with pytest.raises(ValueError, match="regression"):
        make_value_smoother("vote")


def test_c_and_python_de_normalise_every_int8_output_bit_for_bit(tmp_path):
    require(shutil.which("gcc") is not None, "gcc")
    contract = regression_contract()
    values = contract_values(contract) | {"prefix": "har", "PREFIX": "HAR", "source": "test", "arena_measured": "1",
                                          "arena": "16", "margin_percent": "25", "margin_bytes": "1024",
                                          "votes": "3", "reset_state": "0"}
    from firmware_gen.c_values import CToken

    values = {k: CToken(v) if isinstance(v, str) else v for k, v in values.items()}
    (tmp_path / "model_settings.h").write_text(environment().get_template("model_settings.h.j2").render(values))
    (tmp_path / "bits.c").write_text(
        '#include <stdio.h>\n#include <string.h>\n#include "model_settings.h"\n'
        "int main(void) { for (int q = -128; q < 128; q++) { float v = har_output_value((int8_t)q); unsigned u;"
        ' memcpy(&u, &v, 4); printf("%u\\n", u); } return 0; }\n')
    exe = tmp_path / "bits"
    for flags in (["-O0"], ["-O2", "-ffp-contract=fast", "-march=native"]):
        subprocess.run(["gcc", *flags, "-std=c99", str(tmp_path / "bits.c"), "-o", str(exe), "-lm"], check=True)
        c_bits = np.array(subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout.split(),
                          dtype=np.uint32)
        q = contract.quantization
        python = contract.target_values(preprocess.dequantize(np.arange(-128, 128), q["output_scale"],
                                                              q["output_zero_point"]))
        assert np.array_equal(c_bits, python.view(np.uint32))
