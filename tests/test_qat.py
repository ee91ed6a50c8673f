"""`har convert --qat`: quantization-aware fine-tuning before conversion, on the default recipe as one network."""
import json

import numpy as np
import pytest

pytestmark = pytest.mark.slow


def test_qat_fine_tunes_the_trained_weights_and_converts_to_a_validated_int8_model(trained_network, tmp_path):
    from convert.flatbuffer import ops_of
    from convert.pipeline import convert_run
    from har import main

    ptq_model = tmp_path / "ptq.tflite"
    ptq = convert_run(trained_network, ptq_model, max_drop=100.0, max_class_drop=100.0)
    out = tmp_path / "qat.tflite"
    # a 2-epoch model moves a lot in one epoch of fine-tuning: the guard's limits are not what is tested here
    assert main(["convert", str(trained_network), "--out", str(out), "--qat", "--qat-epochs", "1", "--max-class-drop", "100"]) == 0
    report = json.loads(out.with_name("qat.report.json").read_text())
    assert report["quantization_aware_epochs"] == 1 and ptq["quantization_aware_epochs"] == 0
    assert report["passed"] and abs(report["tflm"]["accuracy"] - report["int8"]["accuracy"]) < 0.005
    assert report["agreement"]["litert_vs_tflm_argmax"] >= 0.99  # LiteRT's kernels are not bit-exact with TFLM's
    assert report["float"] == ptq["float"]  # compared with the same float model as post-training int8
    assert out.read_bytes() != ptq_model.read_bytes()
    assert "MUL" not in ops_of(out.read_bytes())  # BatchNorm folded into the convolutions, as without --qat


def test_the_wrapped_model_starts_from_the_trained_weights(trained_network):
    from train.qat import quantize_aware
    from train.run import load

    _, _, model = load(trained_network)
    trained = {f"{layer.name}/{w.name.split('/')[-1]}": w.numpy() for layer in model.layers for w in layer.weights}
    wrapped = [w.numpy() for layer in quantize_aware(model).layers for w in layer.weights]
    missing = [name for name, value in trained.items()
               if not any(value.shape == w.shape and np.array_equal(value, w) for w in wrapped)]
    assert len(trained) >= 10 and not missing  # every trained kernel, bias and BatchNorm statistic, as it was


def test_qat_is_refused_for_other_modes_before_anything_runs(trained_network, tmp_path, capsys):
    from har import main

    assert main(["convert", str(trained_network), "--out", str(tmp_path / "m.tflite"), "--qat", "--mode", "float32"]) == 2
    assert "--qat only with --mode int8" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("family, params", [
    ("cnn", {"filters": [8, 12], "kernels": [3, 3], "separable": True, "pool": "avg", "gravity_branch": False}),
    ("cnn", {"filters": [8, 12], "kernels": [5, 5], "dilation": 2, "gravity_channels": "acc"}),
    ("mlp", {"units": [16]}),
])
def test_every_model_the_search_makes_quantization_aware_converts_to_int8(family, params):
    from convert.flatbuffer import ops_of
    from convert.quantize import convert_model
    from train.models import build_model
    from train.qat import quantize_aware

    names = ["acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z"]
    model = build_model(family, 64, 6, 6, params, channel_names=names, batch_size=1)
    windows = np.random.default_rng(0).normal(size=(8, 64, 6)).astype(np.float32)
    ops = ops_of(convert_model(quantize_aware(model), "int8", windows))
    assert "SOFTMAX" in ops and not [op for op in ops if op.startswith("Flex") or op == "DEQUANTIZE"]
