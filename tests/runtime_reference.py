"""What the Pi runtime's replay tests compare with: a real HAPT test recording, the windows its rows give,
and another interpreter's classes for them."""
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


def assert_classes_as_tflm(classes, model_path, contract, windows):
    """The runtime's class for each raw window is what another interpreter, TFLM, gives for the training
    pipeline's int8 input: its top output, or one within an output step of it (LiteRT's and TFLM's kernels
    may round an output differently, and a tie may fall either way)."""
    from convert.tflm_probe import run_tflm
    from train.evaluate_tflite import model_input

    inputs = model_input(contract.normalise(windows), contract.quantization)
    outputs, _, why = run_tflm(model_path, inputs, 1 << 20)
    assert outputs is not None, why
    outputs = outputs.reshape(len(windows), -1).astype(np.int32)
    assert len(classes) == len(outputs)
    for i, (name, row) in enumerate(zip(classes, outputs)):
        assert row.max() - row[contract.class_names.index(name)] <= 1, f"window {i}: {name}, TFLM gives {row}"
    exact = [contract.class_names[k] for k in outputs.argmax(axis=1)]
    assert sum(a != b for a, b in zip(classes, exact)) <= max(1, len(classes) // 100), "ties are rare, not the rule"
