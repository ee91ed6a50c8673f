"""What the Pi runtime's replay tests compare with: a real HAPT test recording, the windows its rows give,
and the training pipeline's classes for them."""
import numpy as np


def hapt_test_recording(samples=3000):
    from train.data.hapt import EMBEDDED_HAPT
    from train.data.hapt import load_hapt

    recording = next(r for r in load_hapt(EMBEDDED_HAPT)[0] if r.subject == "2")
    start = int(np.flatnonzero(recording.labels >= 0)[0])
    return recording.samples[start : start + samples]


def expected_windows(rows, contract, segments):
    """(start_ms, t_ms) and samples of each window the runtime must classify, from row numbers alone: within
    each segment of rows (the window restarts at each), the first full window, then one every stride."""
    starts = [s for a, b in segments for s in range(a, b - contract.window + 1, contract.stride)]
    times = [(rows[s, 0], rows[s + contract.window - 1, 0]) for s in starts]
    return times, np.array([rows[s : s + contract.window, 1:] for s in starts])


def reference_classes(model_path, contract, windows):
    """The training pipeline's classes for raw windows: its normalisation and int8 input, then the model."""
    from device_runtime.interpreter import Classifier
    from train.evaluate_tflite import model_input

    raw = Classifier(model_path, contract).predict(model_input(contract.normalise(windows), contract.quantization))
    return [contract.class_names[k] for k in raw.argmax(axis=1)]
