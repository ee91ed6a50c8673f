"""A contract's extra inputs on the Pi runtime: fine motion (the gyro's small motion around its window mean) and
the vertical inputs (the accelerometer along and across its window mean)."""
import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import REPO
from runtime_reference import expected_windows, hapt_test_recording, assert_classes_as_tflm


@pytest.mark.parametrize("name, inputs", [("tiny_fine_model", 9), ("tiny_vertical_model", 11)])
def test_replay_of_a_model_with_extra_inputs_classifies_as_the_pipeline(name, inputs, request, tmp_path):
    """The Pi runtime computes a model's extra inputs (window means, scales, clip, vertical and horizontal
    acceleration) itself: its window classes on a real recording equal the training pipeline's, window for
    window."""
    from device_runtime.contract import load_contract

    model = request.getfixturevalue(name)
    contract = load_contract(model)
    samples = hapt_test_recording(3000)
    rows = np.column_stack([np.arange(len(samples)) * 20.0, samples]).astype(np.float64)
    csv = tmp_path / "rows.csv"
    csv.write_text("".join(f"{int(r[0])}," + ",".join(f"{v:.9g}" for v in r[1:]) + "\n" for r in rows))
    result = subprocess.run([sys.executable, "-m", "device_runtime", "--model", str(model), "--replay",
                             str(csv)], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr
    predictions = [json.loads(line) for line in result.stdout.splitlines()]
    assert contract.input_channels == inputs and len(predictions) == (3000 - 128) // 64 + 1
    times, windows = expected_windows(rows, contract, [(0, len(rows))])
    classes = [p["window_class"] for p in predictions]
    assert [(p["start_ms"], p["t_ms"]) for p in predictions] == times
    assert_classes_as_tflm(classes, model, contract, windows)
    assert len(set(classes)) > 1
