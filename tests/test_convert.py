"""int8 conversion of short real runs, validated on LiteRT and TFLM; metadata; refusals; bad model files."""
import json

import numpy as np
import pytest

from convert.pipeline import convert_run
from convert.quantize import ConversionError, check_microcontroller_ready, representative_windows
from device_runtime.contract import contract_from_model, load_contract, sidecar_path
from device_runtime.model_file import ModelError
from train.fit import RunConfig, train_run
from train.data.windows import Windows

pytestmark = pytest.mark.slow


def short_run(runs, family="cnn", epochs=2):
    config = {"model": {"family": family}, "train": {"epochs": epochs, "warmup_epochs": 0}}
    return train_run(RunConfig.from_dict(config), family, runs)


@pytest.fixture
def converted(int8_model):
    return int8_model


def test_int8_model_is_as_accurate_as_float_and_runs_on_tflm(converted):
    run, out, report = converted
    on_disk = json.loads(out.with_name("model.report.json").read_text())
    assert on_disk["passed"] is True
    for key in ("float", "int8", "tflm"):
        assert 0.7 < on_disk[key]["accuracy"] <= 1.0
    assert abs(on_disk["float"]["accuracy"] - on_disk["int8"]["accuracy"]) <= 0.01
    assert on_disk["agreement"]["litert_vs_tflm_argmax"] >= 0.995
    assert on_disk["agreement"]["max_output_difference_lsb"] <= 8  # reference kernels differ by rounding only
    assert on_disk["size_bytes"] == out.stat().st_size
    assert 2_000 < on_disk["arena_bytes"] < 64_000 and on_disk["tflm_run"]["arena_confirmed"]
    assert {"CONV_2D", "FULLY_CONNECTED", "SOFTMAX"} <= set(on_disk["ops"])
    assert "int8 (TFLM, host)" in out.with_name("model.report.md").read_text()


def test_representative_set_holds_training_subjects_only(converted):
    _, out, report = converted
    summary = json.loads((converted[0] / "data_summary.json").read_text())["splits"]
    held_out = set(summary["test"]["subjects"]) | set(summary["validation"]["subjects"])
    assert report["representative"]["windows"] == 300
    assert not set(report["representative"]["subjects"]) & held_out


def test_representative_windows_are_stratified():
    y = np.repeat([0, 1, 2], [900, 90, 10])
    subjects = np.tile(["a", "b"], 500)
    x = np.arange(1000, dtype=np.float32)[:, None, None]
    chosen = representative_windows(Windows(x, y, subjects), 60)
    counts = np.bincount(y[chosen[:, 0, 0].astype(int)], minlength=3)
    assert counts[2] == 10 and abs(counts[0] - counts[1]) <= 2  # the rare class wholly, the rest evenly


def test_representative_windows_are_clipped_to_the_training_values_tail():
    """One outlier must not set the int8 input range: the calibration windows stop at the 99.99th
    percentile of every training value, which the outlier is far beyond."""
    x = np.random.default_rng(0).normal(0, 1, (400, 50, 2)).astype(np.float32)
    x[7, 3, 1] = 40.0
    chosen = representative_windows(Windows(x, np.zeros(400, np.int64), np.array(["s"] * 400)), 400)
    bound = np.percentile(np.abs(x), 99.99)
    assert 3 < bound < 5 and np.abs(chosen).max() == pytest.approx(bound)
    assert (chosen == np.clip(x, -bound, bound)).all()


def test_contract_round_trips_through_the_model(converted):
    run, out, report = converted
    embedded = contract_from_model(out.read_bytes()).to_dict()
    trained = json.loads((run / "contract.json").read_text())
    mine = ("quantization", "extra")  # added by the converter
    assert {k: v for k, v in embedded.items() if k not in mine} == {k: v for k, v in trained.items() if k not in mine}
    assert embedded["quantization"] == report["quantization"]
    assert embedded["extra"]["data"]["test_subjects"] == report["test_subjects"]
    assert embedded["quantization"]["input_scale"] > 0
    assert load_contract(out).to_dict() == json.loads(sidecar_path(out).read_text())


def test_stale_contract_beside_the_model_is_refused(converted, tmp_path):
    _, out, _ = converted
    copy = tmp_path / "model.tflite"
    copy.write_bytes(out.read_bytes())
    contract = json.loads(sidecar_path(out).read_text())
    contract["window"] = 64
    sidecar_path(copy).write_text(json.dumps(contract))
    with pytest.raises(ModelError, match=r"disagrees with the contract embedded in model.tflite on \['window'\]"):
        load_contract(copy)


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda b: b[: len(b) // 2], "truncated or corrupted"),
        (lambda b: b[:4] + b"XXXX" + b[8:], "not a TensorFlow Lite model"),
        (lambda b: b"", "not a TensorFlow Lite model"),
    ],
)
def test_damaged_model_files_give_clear_errors(converted, tmp_path, damage, message):
    path = tmp_path / "bad.tflite"
    path.write_bytes(damage(converted[1].read_bytes()))
    with pytest.raises(ModelError, match=message):
        load_contract(path)


def test_microcontroller_refusals():
    with pytest.raises(ConversionError, match="float16 model does not run on TensorFlow Lite Micro.*--target pi"):
        check_microcontroller_ready("float16", [])
    with pytest.raises(ConversionError, match="dynamic model does not run"):
        check_microcontroller_ready("dynamic", [])
    with pytest.raises(ConversionError, match=r"uses \['WHILE'\].*fused UNIDIRECTIONAL_SEQUENCE_LSTM"):
        check_microcontroller_ready("int8", ["FULLY_CONNECTED", "WHILE"])
    with pytest.raises(ConversionError, match="FlexConv"):
        check_microcontroller_ready("int8", ["FlexConv"])


def test_accuracy_threshold_stops_the_conversion(converted, tmp_path):
    run, _, _ = converted
    out = tmp_path / "strict.tflite"
    with pytest.raises(ConversionError, match="points below float"):
        convert_run(run, out, max_drop=-5.0)
    assert not out.exists() and not out.with_name("strict.report.json").exists()
    assert json.loads(out.with_name("strict.rejected.report.json").read_text())["passed"] is False


def test_calibration_on_wrong_data_collapses_int8_accuracy(converted):
    """Why the representative set must be real training windows: calibrate on small noise, measure."""
    from convert.flatbuffer import embed_contract
    from convert.quantize import convert_model, export_model, quantization_of
    from device_runtime.interpreter import Classifier
    from train.data.dataset import prepare
    from train.evaluate_tflite import model_input
    from train.run import load

    run = converted[0]
    config, contract, trained = load(run)
    test = prepare(config.data, contract).splits["test"]
    noise = np.random.default_rng(0).normal(0, 0.05, (100, 128, contract.input_channels)).astype(np.float32)
    model = convert_model(export_model(config, contract, trained), "int8", noise)
    contract = contract.with_quantization(quantization_of(model))
    scores = Classifier(embed_contract(model, contract.to_dict()), contract).predict(model_input(test.x, contract.quantization))
    accuracy = (scores.argmax(1) == test.y).mean()
    assert accuracy < converted[2]["int8"]["accuracy"] - 0.2


@pytest.mark.parametrize("family", ["mlp", "lstm", "convlstm"])
def test_every_family_converts_to_int8_that_tflm_runs(tmp_path, family):
    report = convert_run(short_run(tmp_path / "runs", family, epochs=1), tmp_path / f"{family}.tflite", max_drop=100,
                         max_class_drop=100)
    assert "tflm" in report and report["arena_bytes"] > 0
    assert "WHILE" not in report["ops"]
    assert report["agreement"]["litert_vs_tflm_argmax"] >= 0.99


def test_har_evaluate_on_the_tflite_matches_the_conversion_report(converted, tmp_path, capsys):
    """`har evaluate MODEL.tflite` prepares the test windows again from the contract stored in the model: they
    are the very windows the converter validated on (both score them with the runtime's Classifier)."""
    from har import main

    _, out, report = converted
    assert main(["evaluate", str(out), "--out", str(tmp_path)]) == 0
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["accuracy"] == report["int8"]["accuracy"]
    assert metrics["confusion_matrix"] == report["int8"]["confusion_matrix"]
    assert (tmp_path / "confusion.png").exists() and "macro-F1" in capsys.readouterr().out
