"""Is the converted model as good as the float one, and does it run on TensorFlow Lite Micro?

Scores the float Keras model, the .tflite under LiteRT (default delegates off, so int8 kernels are the
reference ones that TFLM also uses) and the .tflite under TFLM on the host, all on the test subjects.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from convert.tflm_probe import run_tflm
from device_runtime import preprocess
from device_runtime.contract import Contract
from train.metrics import classification_report

PROBE_ARENA = 1 << 20  # generous arena for the measuring run; the measured size is then confirmed alone


def model_input(x: np.ndarray, quantization: dict | None) -> np.ndarray:
    """Normalised float windows -> what the model's input tensor takes (int8, or float32 as is)."""
    if quantization is None:
        return x.astype(np.float32)
    return preprocess.quantize(x, quantization["input_scale"], quantization["input_zero_point"])


def scores_from_output(raw: np.ndarray, quantization: dict | None) -> np.ndarray:
    if quantization is None:
        return raw.astype(np.float32)
    return preprocess.dequantize(raw, quantization["output_scale"], quantization["output_zero_point"])


def run_litert(model: bytes, inputs: np.ndarray) -> np.ndarray:
    """Raw outputs for every window, resetting variable tensors (LSTM state) before each."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interpreter = Interpreter(
        model_content=model, experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    )
    interpreter.allocate_tensors()
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    outputs = []
    for window in inputs:
        interpreter.reset_all_variables()
        interpreter.set_tensor(inp["index"], window[None])
        interpreter.invoke()
        outputs.append(interpreter.get_tensor(out["index"])[0].copy())
    return np.array(outputs)


def measure_tflm(model_path: Path, inputs: np.ndarray) -> dict:
    """TFLM outputs on every window and the arena it needs, measured, then confirmed by a run at that size."""
    outputs, arena, why = run_tflm(model_path, inputs, PROBE_ARENA)
    if outputs is None:
        return {"runs": False, "error": why}
    confirmed, _, why_small = run_tflm(model_path, inputs[:8], arena)
    return {"runs": True, "outputs": outputs, "arena_bytes": arena, "arena_confirmed": confirmed is not None,
            "arena_error": why_small}


def validate(
    model: bytes, model_path: Path, float_model, test_x: np.ndarray, test_y: np.ndarray,
    contract: Contract, quantization: dict | None, on_tflm: bool,
) -> dict:
    names = contract.class_names
    float_scores = float_model.predict(test_x, batch_size=512, verbose=0)
    inputs = model_input(test_x, quantization)
    raw = run_litert(model, inputs)
    lite_scores = scores_from_output(raw, quantization)
    key = "int8" if quantization else "tflite"
    report = {
        "float": classification_report(test_y, float_scores.argmax(1), names),
        key: classification_report(test_y, lite_scores.argmax(1), names),
        "agreement": {f"float_vs_{key}_argmax": float((float_scores.argmax(1) == lite_scores.argmax(1)).mean())},
    }
    report["per_class_f1_delta"] = {
        n: report[key]["per_class"][n]["f1"] - report["float"]["per_class"][n]["f1"] for n in names
    }
    report["accuracy_drop_points"] = 100 * (report["float"]["accuracy"] - report[key]["accuracy"])
    if on_tflm:
        tflm = measure_tflm(model_path, inputs)
        if tflm["runs"]:
            tflm_raw = tflm.pop("outputs")
            report["tflm"] = classification_report(test_y, scores_from_output(tflm_raw, quantization).argmax(1), names)
            report["agreement"]["litert_vs_tflm_argmax"] = float((tflm_raw.argmax(1) == raw.argmax(1)).mean())
            difference = np.abs(tflm_raw.astype(np.float64) - raw.astype(np.float64)).max()
            report["agreement"]["max_output_difference" + ("_lsb" if quantization else "")] = float(difference)
        report["tflm_run"] = {k: v for k, v in tflm.items()}
        report["arena_bytes"] = tflm.get("arena_bytes")
    return report


def markdown(report: dict) -> str:
    key = "int8" if "int8" in report else "tflite"
    has_tflm = "tflm" in report
    lines = [
        f"# {report['model']}: conversion report",
        "",
        f"Run: `{report['run']}`; mode {report['mode']}"
        + (f" ({report['weight_quantization']} weights)" if report.get("weight_quantization") else "")
        + f"; target {report['target']}. Test subjects: "
        f"{' '.join(report['test_subjects'])} ({report['float']['windows']} windows). Representative set: "
        f"{report['representative']['windows']} training windows from {len(report['representative']['subjects'])} "
        "training subjects, stratified by class and subject.",
        "",
        "| | accuracy | macro-F1 |",
        "|---|---|---|",
        f"| float (Keras) | {100 * report['float']['accuracy']:.2f}% | {report['float']['macro_f1']:.4f} |",
        f"| {key} (LiteRT) | {100 * report[key]['accuracy']:.2f}% | {report[key]['macro_f1']:.4f} |",
    ]
    if has_tflm:
        lines.append(f"| {key} (TFLM, host) | {100 * report['tflm']['accuracy']:.2f}% | {report['tflm']['macro_f1']:.4f} |")
    lines += ["", "| class | float F1 | converted F1 | delta |", "|---|---|---|---|"]
    for name, delta in report["per_class_f1_delta"].items():
        lines.append(f"| {name} | {report['float']['per_class'][name]['f1']:.3f} | {report[key]['per_class'][name]['f1']:.3f} | {delta:+.3f} |")
    lines += ["", "| measure | value |", "|---|---|"]
    lines.append(f"| size | {report['size_bytes']:,} bytes (float32 model: {report['float32_size_bytes']:,} bytes, ratio {report['size_ratio']:.2f}) |")
    if report.get("arena_bytes"):
        confirmed = "confirmed by a run at exactly that size" if report["tflm_run"]["arena_confirmed"] else "NOT confirmed"
        lines.append(f"| TFLM arena (64-bit host, measured) | {report['arena_bytes']:,} bytes, {confirmed} |")
    for name, value in report["agreement"].items():
        shown = f"{100 * value:.2f}%" if "argmax" in name else f"{value:g}"
        lines.append(f"| {name.replace('_', ' ')} | {shown} |")
    lines.append(f"| ops | {', '.join(report['ops'])} |")
    lines.append(f"| MACs per inference | {report['macs']:,} |")
    lines.append(f"| parameters | {report['params']:,} |")
    lines.append(f"| accuracy drop | {report['accuracy_drop_points']:.2f} points (limit {report['max_drop_points']:g}) |")
    if report.get("tflm_run") and not report["tflm_run"]["runs"]:
        lines.append(f"\nTFLM could not run the model: {report['tflm_run']['error']}")
    return "\n".join(lines) + "\n"
