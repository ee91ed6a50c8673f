"""A tiny cadence model through every stage: train, convert, firmware --check, the Pi runtime's replay."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from arduino_example import run_arduino_example
from tests.conftest import REPO

pytestmark = pytest.mark.slow
TINY = ["--config", "configs/cadence.toml", "--epochs", "6", "--set", "model.filters=[8,8]",
        "--set", "model.kernels=[5,5]"]


@pytest.fixture(scope="module")
def cadence_model(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cadence")
    har = [sys.executable, "-m", "har"]
    subprocess.run(har + ["train", *TINY, "--name", "tiny", "--runs", str(tmp)], check=True, cwd=REPO)
    model = tmp / "cadence.tflite"
    subprocess.run(har + ["convert", str(tmp / "tiny"), "--out", str(model), "--max-mae-increase", "100"],
                   check=True, cwd=REPO)
    return model, json.loads(model.with_name("cadence.report.json").read_text())


def test_conversion_reports_mae_for_float_litert_tflm_and_the_baseline(cadence_model):
    model, report = cadence_model
    assert report["unit"] == "steps/min" and report["agreement"]["max_output_difference_lsb"] <= 1  # kernels
    for key in ("float", "int8", "tflm", "baseline_mean_predictor"):
        assert set(report[key]) >= {"mae", "rmse", "r2"}
    assert report["tflm"]["mae"] == pytest.approx(report["int8"]["mae"], rel=0.01)
    assert report["output_type"] == "int8" and "| output type | int8 |" in model.with_name("cadence.report.md").read_text()


def test_a_float32_conversion_reports_a_float32_output(cadence_model, tmp_path):
    model, _ = cadence_model
    out = tmp_path / "float.tflite"
    subprocess.run([sys.executable, "-m", "har", "convert", str(model.parent / "tiny"), "--out", str(out), "--target", "pi",
                    "--mode", "float32"], check=True, cwd=REPO)
    assert json.loads(out.with_name("float.report.json").read_text())["output_type"] == "float32"
    assert "| output type | float32 |" in out.with_name("float.report.md").read_text()


def test_runtime_replay_gives_the_converted_models_values(cadence_model, tmp_path):
    from device_runtime.contract import load_contract
    from device_runtime.interpreter import Classifier
    from train.data.dataset import DataConfig, load_recordings

    model, _ = cadence_model
    contract = load_contract(model)
    recording = next(r for r in load_recordings(DataConfig())[0] if r.subject == "2")
    samples = recording.samples[:2000]
    csv = tmp_path / "walk.csv"
    csv.write_text("timestamp_ms," + ",".join(contract.channels) + "\n" + "".join(
        f"{i * 20},{','.join(f'{v:.9g}' for v in row)}\n" for i, row in enumerate(samples)))
    out = subprocess.run([sys.executable, "-m", "device_runtime", "--model", str(model), "--replay", str(csv),
                          "--smoothing", "none"], capture_output=True, text=True, check=True, cwd=REPO)
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    classifier = Classifier(model, contract)
    starts = range(0, len(samples) - contract.window + 1, contract.stride)
    expected = [float(contract.target_values(classifier(samples[s : s + contract.window])[0])[0]) for s in starts]
    assert [line["unit"] for line in lines] == ["steps/min"] * len(expected)
    assert np.allclose([line["window_value"] for line in lines], expected, atol=5e-5)


def test_firmware_check_passes_bit_for_bit(cadence_model, tmp_path):
    from firmware_gen import check
    from firmware_gen.cli import tflm_root
    from firmware_gen.generate import generate

    try:
        tflm = tflm_root(None)
    except ValueError:
        if os.environ.get("CI"):
            raise
        pytest.skip("no TensorFlow Lite Micro tree")
    model, _ = cadence_model
    generate(model, tmp_path)
    main = (tmp_path / "main.cc").read_text()
    assert '\\"unit\\": ' in main and "HAR_TARGET_UNIT" in main
    sketch = run_arduino_example(model, tmp_path, tflm)  # the example sketch, built and run with a stub core
    assert len(sketch) > 100 and {r["unit"] for r in sketch} == {"steps/min"}
    assert all(r["value"] is None or isinstance(r["value"], float) for r in sketch)
    report = check.check(model, tmp_path, "har", tflm, None, "hapt", m4_windows=8)
    assert check.passed(report), report
