"""Fine motion (a contract's extra inputs: the gyro's small motion around its window mean) on the Pi runtime."""
import json
import subprocess
import sys

import numpy as np
from conftest import REPO
from test_device_runtime import hapt_test_recording, reference_classes


def test_replay_of_a_fine_motion_model_classifies_as_the_pipeline(tiny_fine_model, tmp_path):
    """The Pi runtime computes a fine-motion model's extra inputs (window means, scales, clip) itself: its
    window classes on a real recording equal the training pipeline's, window for window."""
    from device_runtime.contract import load_contract

    contract = load_contract(tiny_fine_model)
    samples = hapt_test_recording(3000)
    rows = np.column_stack([np.arange(len(samples)) * 20.0, samples]).astype(np.float64)
    csv = tmp_path / "rows.csv"
    csv.write_text("".join(f"{int(r[0])}," + ",".join(f"{v:.9g}" for v in r[1:]) + "\n" for r in rows))
    result = subprocess.run([sys.executable, "-m", "device_runtime", "--model", str(tiny_fine_model), "--replay",
                             str(csv)], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr
    predictions = [json.loads(line) for line in result.stdout.splitlines()]
    assert contract.input_channels == 9 and len(predictions) == (3000 - 128) // 64 + 1
    classes = [p["window_class"] for p in predictions]
    assert classes == reference_classes(tiny_fine_model, contract, rows, predictions) and len(set(classes)) > 1
