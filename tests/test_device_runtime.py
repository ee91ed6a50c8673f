"""The stand-alone Raspberry Pi runtime: isolation, parsing (fuzzed), streaming, and end to end over a pty."""
import ast
import re
import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from conftest import REPO, PtySensor
from runtime_reference import expected_windows, hapt_test_recording, assert_classes_as_tflm
from hypothesis import example, given, settings
from hypothesis import strategies as st

from device_runtime.contract import Contract
from device_runtime.line_parser import MAX_LINE_BYTES, ColumnMap, header_columns, parse_line
from device_runtime.smoothing import make_smoother
from device_runtime.sources import LineSplitter
from device_runtime.stream import WindowStream

RUNTIME = REPO / "device_runtime"
CHANNELS = ["acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z"]


def test_runtime_imports_nothing_from_the_other_folders_nor_tensorflow():
    forbidden = {"train", "convert", "firmware_gen", "tensorflow", "tf_keras", "keras", "bench", "har"}
    for path in RUNTIME.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                assert name.split(".")[0] not in forbidden, f"{path.name} imports {name}"
    probe = "import sys, device_runtime.__main__; print(sorted(m for m in sys.modules if m.split('.')[0] in %r))" % forbidden
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0 and result.stdout.strip() == "[]", result.stdout + result.stderr


def test_requirements_name_only_numpy_pyserial_and_an_interpreter():
    names = {line.split("=")[0].split(">")[0].split("<")[0].strip() for line in (RUNTIME / "requirements.txt").read_text().splitlines()
             if line.strip() and not line.startswith("#")}
    assert names == {"numpy", "pyserial", "ai-edge-litert"}


COLUMNS = ColumnMap(["timestamp_ms", *CHANNELS], CHANNELS)


def test_parse_good_and_bad_lines():
    t, values = parse_line(b"20,1,2,3,4,5,6", COLUMNS)
    assert t == 20.0 and values.tolist() == [1, 2, 3, 4, 5, 6]
    assert parse_line(b"20,1,2,3", COLUMNS) == "wrong field count"
    assert parse_line(b"20,1,2,x,4,5,6", COLUMNS) == "not a number"
    assert parse_line(b"20,1,2,nan,4,5,6", COLUMNS) == "NaN or inf"
    assert parse_line(b"20,1,2,inf,4,5,6", COLUMNS) == "NaN or inf"
    assert parse_line(b"\xff\xfe,1,2,3,4,5,6", COLUMNS) == "not UTF-8"
    assert parse_line(b"1," * 600, COLUMNS) == "overlong line"
    assert parse_line(b"", COLUMNS) == "empty line"


def test_columns_map_any_order_and_refuse_missing_channels():
    columns = ColumnMap(["gyro_x", "gyro_y", "gyro_z", "acc_x", "acc_y", "acc_z", "temp"], CHANNELS)
    _, values = parse_line(b"4,5,6,1,2,3,37.5", columns)
    assert values.tolist() == [1, 2, 3, 4, 5, 6] and columns.time_index is None
    with pytest.raises(ValueError, match=r"lack the model's channels \['gyro_z'\]"):
        ColumnMap(["acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y"], CHANNELS)
    assert header_columns(b"timestamp_ms,acc_x[g],acc_y[g],activity") == ["timestamp_ms", "acc_x", "acc_y", "activity"]
    assert header_columns(b"1,2,3") is None


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=2000))
def test_fuzz_parser_never_raises_and_only_returns_finite_samples(raw):
    result = parse_line(raw, COLUMNS)
    if not isinstance(result, str):
        t, values = result
        assert values.shape == (6,) and np.isfinite(values).all() and np.isfinite(t)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(
    st.from_regex(rb"\A[0-9.,\-]{0,40}\Z"), st.binary(max_size=40), st.just(b"9" * 3000)), max_size=30),
    st.lists(st.integers(1, 64), min_size=1, max_size=20))
@example(lines=[b"\r", b""], cuts=[1])  # CR, LF, LF a byte at a time: the second LF is a blank line of its own
def test_fuzz_splitter_keeps_lines_whole_and_its_buffer_bounded(lines, cuts):
    lines = [line.replace(b"\n", b"") for line in lines]
    data = b"".join(line + b"\n" for line in lines)
    splitter, got, position, i = LineSplitter(), [], 0, 0
    while position < len(data):
        size = cuts[i % len(cuts)]
        got += splitter.feed(data[position : position + size])
        assert len(splitter.buffer) <= MAX_LINE_BYTES + 1
        position, i = position + size, i + 1
    expected = [line[: MAX_LINE_BYTES + 1] for line in re.split(rb"\r\n|\r|\n", data)[:-1]]  # LF, CR LF or CR
    assert got == expected


class FakeClassifier:
    """Returns the window's first sample value as the winning class, to check which samples it got."""

    def __call__(self, window):
        p = np.zeros(3, np.float32)
        p[int(window[0, 0]) % 3] = 1
        return p, 0.0


CONTRACT = Contract(window=4, stride=2, sample_rate_hz=50.0, channels=["x"], units=["g"], class_names=["a", "b", "c"],
                    norm_mean=[0.0], norm_std=[1.0])


def push_all(stream, times):
    out = []
    for i, t in enumerate(times):
        prediction = stream.push(t, np.array([i], np.float32))
        if prediction:
            out.append((prediction["start_ms"], prediction["t_ms"]))
    return out


def test_stream_windows_strides_and_restarts_at_gaps():
    stream = WindowStream(FakeClassifier(), CONTRACT, make_smoother("none"))
    times = [0, 20, 40, 60, 80, 100, 120, 300, 320, 340, 360, 380]  # a gap after 120 ms
    assert push_all(stream, times) == [(0, 60), (40, 100), (300, 360)]
    assert stream.events == {"gap in timestamps (window restarted)": 1}


def test_a_gap_and_a_clock_going_back_are_logged_at_the_sample_that_shows_them():
    logged = []
    stream = WindowStream(FakeClassifier(), CONTRACT, make_smoother("none"), log=logged.append)
    push_all(stream, [0, 20, 40, 5000, 5020, 10, 30])
    assert logged == ["gap in timestamps (window restarted) (at 5000 ms)",
                      "timestamp went back (window restarted) (at 10 ms)"]


def test_stream_without_timestamps_and_with_time_going_back():
    stream = WindowStream(FakeClassifier(), CONTRACT, make_smoother("none"))
    assert push_all(stream, [None] * 6) == [(0, 60), (40, 100)]
    stream = WindowStream(FakeClassifier(), CONTRACT, make_smoother("none"))
    assert push_all(stream, [0, 20, 40, 10, 30, 50, 70]) == [(10, 70)]
    assert stream.events == {"timestamp went back (window restarted)": 1}


def test_stream_reports_rate_drift():
    stream = WindowStream(FakeClassifier(), CONTRACT, make_smoother("none"))
    push_all(stream, [i * 25.0 for i in range(200)])  # 40 Hz against the model's 50 Hz, within the gap limit
    assert any("drifted" in event for event in stream.events)
    assert stream.measured_rate_hz == pytest.approx(40.0)


def test_majority_vote_ties_go_to_the_most_recent():
    vote = make_smoother("vote", votes=3)
    onehot = np.eye(3)
    assert [vote.update(onehot[k]) for k in (0, 1, 1, 2, 0)] == [0, 1, 1, 1, 0]
    assert vote.confidence == pytest.approx(1 / 3)  # the reported class's share of the votes held


def test_ema_hysteresis_waits_for_a_clear_lead():
    ema = make_smoother("ema", alpha=0.5, hysteresis=0.2)
    assert ema.update(np.array([0.9, 0.1])) == 0
    assert ema.update(np.array([0.4, 0.6])) == 0  # average 0.65 / 0.35: no switch
    assert ema.update(np.array([0.1, 0.9])) == 1  # average 0.375 / 0.625: leads by more than 0.2
    assert ema.confidence == pytest.approx(0.625)  # the moving average's probability of the reported class
    ema2 = make_smoother("ema", alpha=1.0, hysteresis=0.2)
    assert [ema2.update(np.array(p)) for p in ([0.9, 0.1], [0.45, 0.55], [0.3, 0.7])] == [0, 0, 1]


def run_runtime(args, **kwargs):
    return subprocess.run([sys.executable, "-m", "device_runtime", *args], capture_output=True, text=True,
                          cwd=REPO, timeout=120, **kwargs)


def test_model_without_contract_is_refused(tmp_path, tiny_model):
    bare = tmp_path / "bare.tflite"
    bare.write_bytes(tiny_model.read_bytes().replace(b"har_contract", b"xxx_contract"))
    result = run_runtime(["--model", str(bare), "--stdin"], input="")
    assert result.returncode == 2 and "no preprocessing contract" in result.stderr
    result = run_runtime(["--model", str(tmp_path / "missing.tflite"), "--stdin"], input="")
    assert result.returncode == 2 and "does not exist" in result.stderr


def test_smoother_factory_refuses_bad_arguments():
    for kind, options in [("vote", {"votes": 0}), ("vote", {"votes": True}), ("ema", {"alpha": 0}),
                          ("ema", {"alpha": float("nan")}), ("ema", {"hysteresis": -0.1}), ("median", {})]:
        with pytest.raises(ValueError):
            make_smoother(kind, **options)
    window_only = make_smoother("none")
    assert window_only.update(np.array([0.2, 0.7, 0.1])) == 1 and window_only.confidence == pytest.approx(0.7)


def test_help_and_a_replay_import_no_tensorflow(tiny_model, tmp_path):
    csv = tmp_path / "rows.csv"
    csv.write_text("".join(f"{i * 20},0.1,0.2,0.9,0,0,0\n" for i in range(200)))
    probe = (
        "import sys, contextlib, io\n"
        "from device_runtime.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try:\n        main(['--help'])\n    except SystemExit:\n        pass\n"
        f"    assert main(['--model', {str(tiny_model)!r}, '--replay', {str(csv)!r}]) == 0\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'tf_keras')))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0 and result.stdout.strip() == "[]", result.stdout + result.stderr


@pytest.mark.slow
def test_end_to_end_over_a_pseudo_terminal_with_garbage_and_a_disconnect(int8_model, tmp_path):
    """A simulated sensor writes a real HAPT test recording (timestamps at 50 Hz, sent 10x faster), with
    garbage lines and an unplug in the middle; the runtime classifies exactly the windows the row numbers
    give (restarting after the unplug), and each as the training pipeline's preprocessing and model do."""
    from device_runtime.contract import load_contract

    model = int8_model[1]
    contract = load_contract(model)
    samples = hapt_test_recording()
    rows = np.column_stack([np.arange(len(samples)) * 20.0, samples]).astype(np.float64)
    lines = [(f"{int(r[0])}," + ",".join(f"{v:.9g}" for v in r[1:]) + "\n").encode() for r in rows]
    lost = set(range(1500, 1550))  # sent while unplugged: lost, like a real outage

    sensor = PtySensor(tmp_path)
    runtime = subprocess.Popen(
        [sys.executable, "-m", "device_runtime", "--model", str(model), "--port", str(sensor.link)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO, text=True,
    )
    time.sleep(3)  # let it load the model and open the port
    garbage = [b"\xff\xfe\xfd\xfc\n", b"hello from the bootloader\n", b"20,1,2\n", b"40,1,2,3,nan,5,6\n", b"9" * 5000 + b"\n"]
    for i, line in enumerate(lines):
        if i == 1500:
            sensor.write(lines[i][:15])  # half a line, then the cable goes
            time.sleep(0.5)
            sensor.unplug()
            time.sleep(1.0)
            sensor.plug()
            time.sleep(1.5)  # the runtime's backoff finds the new device
        if i in lost:
            continue
        if i % 400 == 7:
            sensor.write(garbage[(i // 400) % len(garbage)])
        sensor.write(line)
        if i % 50 == 0:
            time.sleep(0.1)  # 10x the sensor's real rate
    time.sleep(2)
    runtime.send_signal(signal.SIGTERM)
    out, err = runtime.communicate(timeout=30)
    sensor.unplug()
    assert runtime.returncode == 0, err
    summary = json.loads(err.strip().splitlines()[-1])["summary"]
    assert summary["reconnections"] == 1, err
    assert sum(summary["skipped"].values()) >= 4, summary
    predictions = [json.loads(line) for line in out.splitlines()]
    # 1500 samples before the unplug, 1450 after it (the window restarts): one every 64 once 128 are in
    assert len(predictions) == (1500 - 128) // 64 + 1 + (1450 - 128) // 64 + 1, (len(predictions), summary)
    kept = rows[[i for i in range(len(rows)) if i not in lost]]
    times, windows = expected_windows(kept, contract, [(0, 1500), (1500, len(kept))])
    assert [(p["start_ms"], p["t_ms"]) for p in predictions] == times
    assert_classes_as_tflm([p["window_class"] for p in predictions], model, contract, windows)
    assert max(p["latency_ms"] for p in predictions) < 100
    assert all(p["confidence"] >= 0.3333 and p["window_confidence"] >= 1 / 6 for p in predictions), "never 0.0 any more"


def test_batch_predict_equals_one_window_at_a_time_and_another_interpreter(tiny_model):
    """The runtime's probabilities, batched or one window at a time, are TFLM's int8 outputs dequantised
    (within one output step: LiteRT's and TFLM's kernels may round an output differently)."""
    from convert.tflm_probe import run_tflm
    from device_runtime.contract import load_contract
    from device_runtime.interpreter import Classifier

    contract = load_contract(tiny_model)
    classifier = Classifier(tiny_model, contract)
    windows = np.random.default_rng(0).normal(size=(3, 128, 6)).astype(np.float32)
    inputs = np.array([classifier.model_input(w) for w in windows])
    probabilities = classifier.predict(inputs)
    assert probabilities.shape == (3, 6) and probabilities.dtype == np.float32
    np.testing.assert_array_equal(probabilities, [classifier(w)[0] for w in windows])
    outputs, _, why = run_tflm(tiny_model, inputs, 1 << 20)
    assert outputs is not None, why
    q = contract.quantization
    expected = (outputs.reshape(3, 6).astype(np.float32) - q["output_zero_point"]) * q["output_scale"]
    np.testing.assert_allclose(probabilities, expected, rtol=0, atol=1.01 * q["output_scale"])
    with pytest.raises(ValueError, match="the model takes"):
        classifier.predict(inputs[:, :64])
