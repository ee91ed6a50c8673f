"""Is the converted model as good as the float one, and does it run on TensorFlow Lite Micro?

Scores the float Keras model, the .tflite under LiteRT through the device runtime's Classifier (default
delegates off, so int8 kernels are the reference ones that TFLM also uses) and the .tflite under TFLM on
the host, all on the test subjects: overall, per class (recall float vs converted, for the guard in
convert/guard.py) and per subject, with the share of int8 inputs that saturate.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from convert.guard import quality_drops
from convert.tflm_probe import run_tflm
from device_runtime import preprocess
from device_runtime.contract import Contract
from device_runtime.interpreter import Classifier
from train.data.windows import Windows
from train.evaluate_tflite import model_input
from train.metrics import classification_report, per_subject
from train.report_table import markdown_table, per_subject_lines
from train.robustness import robustness_lines

PROBE_ARENA = 1 << 20  # generous arena for the measuring run; the measured size is then confirmed alone


def scores_from_output(raw: np.ndarray, quantization: dict | None) -> np.ndarray:
    if quantization is None:
        return raw.astype(np.float32)
    return preprocess.dequantize(raw, quantization["output_scale"], quantization["output_zero_point"])


def measure_tflm(model_path: Path, inputs: np.ndarray) -> dict:
    """TFLM outputs on every window and the arena it needs, measured, then confirmed by a run at that size."""
    outputs, arena, why = run_tflm(model_path, inputs, PROBE_ARENA)
    if outputs is None:
        return {"runs": False, "error": why}
    confirmed, _, why_small = run_tflm(model_path, inputs[:8], arena)
    return {"runs": True, "outputs": outputs, "arena_bytes": arena, "arena_confirmed": confirmed is not None,
            "arena_error": why_small}


def validate(model_path: Path, float_model, test: Windows, contract: Contract, on_tflm: bool) -> dict:
    """Float, LiteRT and (if `on_tflm`) TFLM scores of the model at `model_path` (an absolute path: the TFLM
    probe runs in a child process) on the normalised test windows."""
    names, quantization = contract.class_names, contract.quantization
    float_scores = float_model.predict(test.x, batch_size=512, verbose=0)
    inputs = model_input(test.x, quantization)
    lite_scores = Classifier(model_path, contract).predict(inputs)
    key = "int8" if quantization else "tflite"
    report = {
        "float": classification_report(test.y, float_scores.argmax(1), names),
        key: classification_report(test.y, lite_scores.argmax(1), names),
        "agreement": {f"float_vs_{key}_argmax": float((float_scores.argmax(1) == lite_scores.argmax(1)).mean())},
        "per_subject": per_subject(test.y, lite_scores.argmax(1), test.subjects, names=names),
    }
    report["per_class_f1_delta"] = {
        n: report[key]["per_class"][n]["f1"] - report["float"]["per_class"][n]["f1"] for n in names
    }
    report.update(quality_drops(report["float"], report[key]))
    if quantization:
        report["input_saturation"] = saturation(inputs, contract)
    if on_tflm:
        report.update(_tflm_agreement(model_path, inputs, lite_scores, test.y, contract, report["agreement"]))
    return report


def saturation(inputs: np.ndarray, contract: Contract) -> dict:
    """Share of int8 input values at -128 or 127, overall and per channel, and each channel's int8 step in
    its own unit: clipped values are information the model never sees, and a channel whose outliers set the
    shared scale leaves the others few steps (`[data] scaling = "range"` evens them out). The fine-motion
    inputs after the channels are left out: they are clipped by design, in every walking window."""
    at_rail = ((inputs == -128) | (inputs == 127))[..., : len(contract.channels)]
    scale = contract.quantization["input_scale"]
    return {"overall": float(at_rail.mean()),
            "per_channel": {name: float(at_rail[..., i].mean()) for i, name in enumerate(contract.channels)},
            "step": {name: float(scale * s) for name, s in zip(contract.channels, contract.norm_std)},
            "units": dict(zip(contract.channels, contract.units))}


def _tflm_agreement(model_path: Path, inputs, lite_scores, test_y, contract: Contract, agreement: dict) -> dict:
    """TFLM's scores, arena, and its agreement with LiteRT (argmax; largest difference, in output LSBs for int8)."""
    quantization = contract.quantization
    tflm = measure_tflm(model_path, inputs)
    out = {"tflm_run": tflm, "arena_bytes": tflm.get("arena_bytes")}
    if tflm["runs"]:
        tflm_scores = scores_from_output(tflm.pop("outputs"), quantization)
        out["tflm"] = classification_report(test_y, tflm_scores.argmax(1), contract.class_names)
        agreement["litert_vs_tflm_argmax"] = float((tflm_scores.argmax(1) == lite_scores.argmax(1)).mean())
        difference = np.abs(tflm_scores.astype(np.float64) - lite_scores.astype(np.float64)).max()
        if quantization:
            agreement["max_output_difference_lsb"] = float(np.round(difference / quantization["output_scale"]))
        else:
            agreement["max_output_difference"] = float(difference)
    return out


def markdown(report: dict) -> str:
    key = "int8" if "int8" in report else "tflite"
    scored = [("float (Keras)", report["float"]), (f"{key} (LiteRT)", report[key])]
    if "tflm" in report:
        scored.append((f"{key} (TFLM, host)", report["tflm"]))
    per_class = [(name, f"{report['float']['per_class'][name]['recall']:.3f}", f"{report[key]['per_class'][name]['recall']:.3f}",
                  f"{report['class_recall_drop_points'][name]:+.2f}", f"{report['float']['per_class'][name]['f1']:.3f}",
                  f"{report[key]['per_class'][name]['f1']:.3f}") for name in report["per_class_f1_delta"]]
    weights = f" ({report['weight_quantization']} weights)" if report.get("weight_quantization") else ""
    lines = [
        f"# {report['model']}: conversion report",
        "",
        f"Run: `{report['run']}` ({report['checkpoint']} checkpoint); mode {report['mode']}{weights}; target "
        f"{report['target']}. Test subjects: {' '.join(report['test_subjects'])} ({report['float']['windows']} "
        f"windows). Representative set: {report['representative']['windows']} training windows from "
        f"{len(report['representative']['subjects'])} training subjects, stratified by class and subject.",
        "",
        *[f"**Refused: {problem}.**\n" for problem in report.get("refused_because", [])],
        markdown_table(["", "accuracy", "macro-F1"], [(n, f"{100 * m['accuracy']:.2f}%", f"{m['macro_f1']:.4f}") for n, m in scored]),
        "",
        markdown_table(["class", "float recall", "converted recall", "recall drop (points)", "float F1", "converted F1"], per_class),
        "",
        markdown_table(["measure", "value"], _measures(report)),
        "",
        *per_subject_lines(report["per_subject"]),
    ]
    if report.get("tflm_run") and not report["tflm_run"]["runs"]:
        lines.append(f"TFLM could not run the model: {report['tflm_run']['error']}\n")
    if "robustness" in report:
        lines += robustness_lines(report["robustness"])
    return "\n".join(lines).rstrip("\n") + "\n"


def _measures(report: dict) -> list[tuple[str, str]]:
    rows = [("size", f"{report['size_bytes']:,} bytes (float32 model: {report['float32_size_bytes']:,} bytes, "
                     f"ratio {report['size_ratio']:.2f})")]
    if report.get("arena_bytes"):
        confirmed = "confirmed by a run at exactly that size" if report["tflm_run"]["arena_confirmed"] else "NOT confirmed"
        rows.append(("TFLM arena (64-bit host, measured)", f"{report['arena_bytes']:,} bytes, {confirmed}"))
    for name, value in report["agreement"].items():
        rows.append((name.replace("_", " "), f"{100 * value:.2f}%" if "argmax" in name else f"{value:g}"))
    if "input_saturation" in report:
        shares = report["input_saturation"]
        rows.append(("int8 inputs at -128/127", f"{100 * shares['overall']:.3f}% (" + ", ".join(
            f"{name} {100 * share:.3f}%" for name, share in shares["per_channel"].items()) + ")"))
        rows.append(("int8 input step per channel", ", ".join(
            f"{name} {step:.3g} {shares['units'][name]}".rstrip() for name, step in shares["step"].items())))
    return rows + [
        ("ops", ", ".join(report["ops"])),
        ("MACs per inference", f"{report['macs']:,}"),
        ("parameters", f"{report['params']:,}"),
        ("accuracy drop", f"{report['accuracy_drop_points']:.2f} points (limit {report['max_drop_points']:g})"),
        ("macro-F1 drop", f"{report['macro_f1_drop_points']:.2f} points (limit {report['max_drop_points']:g})"),
        ("largest class recall drop", f"{max(report['class_recall_drop_points'].values()):.2f} points "
                                      f"(limit {report['max_class_drop_points']:g})"),
    ]
