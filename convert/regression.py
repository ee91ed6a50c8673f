"""Validation of a converted regression model: is int8 as close to the truth as float, and does TFLM agree?

Float (the Keras export graph, de-normalised with the contract as the devices do), the .tflite on LiteRT and on TFLM are all scored on
the test subjects in the target's unit: MAE, RMSE and R^2, beside the mean predictor (the training windows' mean
target) as the baseline every model must beat. The guard refuses a model whose int8
MAE is more than --max-mae-increase percent above the float MAE.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from convert.validate import measure_tflm, saturation, scores_from_output
from device_runtime.contract import Contract
from device_runtime.interpreter import Classifier
from train.data.windows import Windows
from train.evaluate_tflite import model_input
from train.metrics import regression_report
from train.report_table import markdown_table

DEFAULT_MAX_MAE_INCREASE = 5.0  # percent of the float MAE


def validate_regression(model_path: Path, float_model, test: Windows, contract: Contract, on_tflm: bool,
                        training_mean: float) -> dict:
    """Scores of the float model and of the .tflite at `model_path` (LiteRT, TFLM) on the test windows, beside
    a predictor of the training windows' mean target (never the test windows')."""
    quantization = contract.quantization
    key = "int8" if quantization else "tflite"
    inputs = model_input(test.x, quantization)
    lite_z = Classifier(model_path, contract).predict(inputs)
    lite = contract.target_values(lite_z[:, 0])
    float_values = contract.target_values(float_model.predict(test.x, batch_size=512, verbose=0)[:, 0])
    baseline = np.full(len(test.y), training_mean)
    report = {"float": regression_report(test.y, float_values), key: regression_report(test.y, lite),
              "baseline_mean_predictor": regression_report(test.y, baseline),
              "unit": contract.target_unit, "agreement": {},
              "output_type": "int8" if quantization else "float32"}  # float16 and dynamic models give float32 too
    report["mae_increase_percent"] = 100 * (report[key]["mae"] / report["float"]["mae"] - 1)
    if quantization:
        report["input_saturation"] = saturation(inputs, contract)
    if on_tflm:
        tflm = measure_tflm(model_path, inputs)
        report.update(tflm_run=tflm, arena_bytes=tflm.get("arena_bytes"))
        if tflm["runs"]:
            tflm_z = scores_from_output(tflm.pop("outputs"), quantization)[:, 0]
            report["tflm"] = regression_report(test.y, contract.target_values(tflm_z))
            difference = float(np.abs(tflm_z.astype(np.float64) - lite_z[:, 0]).max())
            report["agreement"]["max_output_difference_lsb" if quantization else "max_output_difference"] = (
                round(difference / quantization["output_scale"]) if quantization else difference)
    return report


def regression_problems(report: dict, max_mae_increase: float) -> list[str]:
    """The guard: the converted MAE may exceed the float MAE by at most `max_mae_increase` percent."""
    if report["mae_increase_percent"] <= max_mae_increase:
        return []
    key = "int8" if "int8" in report else "tflite"
    return [f"{report['mode']} MAE {report[key]['mae']:.3f} is {report['mae_increase_percent']:.2f}% above the float "
            f"MAE {report['float']['mae']:.3f} {report['unit']} (limit {max_mae_increase:g}%, --max-mae-increase)"]


def regression_markdown(report: dict) -> str:
    key = "int8" if "int8" in report else "tflite"
    unit = report["unit"] or "target units"
    scored = [("float (Keras)", report["float"]), (f"{key} (LiteRT)", report[key])]
    if "tflm" in report:
        scored.append((f"{key} (TFLM, host)", report["tflm"]))
    scored.append(("mean predictor (baseline)", report["baseline_mean_predictor"]))
    rows = [(name, f"{m['mae']:.3f}", f"{m['rmse']:.3f}", f"{m['r2']:.3f}") for name, m in scored]
    measures = [("int8 loss", f"MAE {report['mae_increase_percent']:+.2f}% against float (limit {report['max_mae_increase']:g}%)"),
                ("output type", report["output_type"]), ("size", f"{report['size_bytes']:,} bytes"),
                ("ops", ", ".join(report["ops"])), ("MACs per inference", f"{report['macs']:,}")]
    measures += [(name.replace("_", " "), f"{value:g}") for name, value in report["agreement"].items()]
    if report.get("arena_bytes"):
        measures.append(("TFLM arena (64-bit host, measured)", f"{report['arena_bytes']:,} bytes"))
    lines = [f"# {report['model']}: conversion report (regression)", "",
             f"Run: `{report['run']}` ({report['checkpoint']} checkpoint); mode {report['mode']}; target {report['target']}. "
             f"Test subjects: {' '.join(report['test_subjects'])} ({report['float']['windows']} windows).", "",
             *[f"**Refused: {problem}.**\n" for problem in report.get("refused_because", [])],
             markdown_table(["", f"MAE ({unit})", f"RMSE ({unit})", "R^2"], rows), "",
             markdown_table(["measure", "value"], measures), ""]
    if report.get("tflm_run") and not report["tflm_run"]["runs"]:
        lines.append(f"TFLM could not run the model: {report['tflm_run']['error']}\n")
    return "\n".join(lines)
