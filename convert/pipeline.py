"""`har convert RUN`: a trained run -> MODEL.tflite, MODEL.contract.json, MODEL.report.json and .md.

Order of work: inputs checked (paths made absolute, the run and its model file, the output's lock) before
TensorFlow is imported; then the export graph, representative windows (training subjects only),
conversion, the contract with the int8 scale/zero-point and the data the model was tested on embedded,
validation of the staged bytes on the test subjects (LiteRT and TFLM), the robustness of the converted
model on the raw test windows (train/robustness.py), the quality guard (convert/guard.py), and publication
of all files as one unit (convert/publish.py).
"""
from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import numpy as np

from convert.guard import ADVICE, quality_problems
from convert.publish import (
    ConversionError, output_path, publish, publish_rejected, report_path, staging,
)
from convert.regression import (
    DEFAULT_MAX_MAE_INCREASE, regression_markdown, regression_problems, validate_regression,
)
from convert.validate import markdown, validate
from device_runtime.contract import Contract, load_contract, sidecar_path
from device_runtime.files import atomic_write
from device_runtime.interpreter import Classifier
from train.data.dataset import Prepared
from train.evaluate import prepare_raw
from train.metrics import subject_order
from train.run import check, load, resolve
from train.robustness import robustness
from train.run_config import RunConfig

MODES, TARGETS = ("int8", "float32", "float16", "dynamic"), ("mcu", "pi")


def convert_run(
    run: str | Path, out: str | Path, mode: str = "int8", target: str = "mcu", representative: int = 300,
    max_drop: float = 1.0, seed: int = 0, per_channel: bool = False, checkpoint: str = "final",
    max_class_drop: float = 3.0, max_mae_increase: float = DEFAULT_MAX_MAE_INCREASE, qat_epochs: int = 0,
) -> dict:
    """Convert, validate and publish; raises ConversionError (nothing published) if the model falls short.
    `qat_epochs` > 0: quantization-aware fine-tuning first (train/qat.py), int8 only."""
    if mode not in MODES or target not in TARGETS:
        raise ValueError(f"--mode must be one of {list(MODES)} and --target one of {list(TARGETS)}")
    if not isinstance(qat_epochs, int) or qat_epochs < 0 or qat_epochs and mode != "int8":
        raise ValueError(f"--qat-epochs {qat_epochs}: give a whole number >= 1, and --qat only with --mode int8")
    if not isinstance(representative, int) or representative < 1:
        raise ValueError(f"--representative {representative}: give a whole number of windows >= 1")
    out, run = output_path(out), resolve(run)
    _, contract, _ = check(run, checkpoint)  # a damaged run is refused before the lock and TensorFlow
    regression = contract.task == "regression"
    with staging(out) as folder:
        config, contract, trained = load(run, checkpoint)
        prepared, raw = prepare_raw(config.data, contract)
        staged = folder / out.name
        report = _convert_and_validate(config, contract, trained, prepared, staged,
                                       dict(mode=mode, target=target, representative=representative, seed=seed,
                                            per_channel=per_channel, qat_epochs=qat_epochs))
        if not regression:
            report["robustness"] = _robustness(staged, raw["test"], prepared.splits["test"].y)
        report.update(model=out.name, run=str(run), checkpoint=checkpoint, max_drop_points=max_drop,
                      max_class_drop_points=max_class_drop, max_mae_increase=max_mae_increase)
        report["refused_because"] = (regression_problems(report, max_mae_increase) if regression
                                     else quality_problems(report, max_drop, max_class_drop))
        report["passed"] = not report["refused_because"] and (target != "mcu" or "tflm" in report)
        atomic_write(report_path(staged, "json"), json.dumps(report, indent=2))
        atomic_write(report_path(staged, "md"), (regression_markdown if regression else markdown)(report))
        if not report["passed"]:
            raise ConversionError(_failure(report, out, publish_rejected(folder, out)))
        publish(folder, out)
    return report


def _convert_and_validate(config: RunConfig, contract: Contract, trained, prepared: Prepared, staged: Path,
                          options: dict) -> dict:
    """Write the model and its contract to `staged` and return the validation report. TensorFlow is
    imported here, once every input has been checked."""
    from convert.flatbuffer import embed_contract, ops_of
    from convert.quantize import (
        check_microcontroller_ready, convert_model, export_model, quantization_of, representative_windows,
    )
    from train.models import count_macs

    mode, target = options["mode"], options["target"]
    if target == "mcu":
        check_microcontroller_ready(mode, [])
    train, test = prepared.splits["train"], prepared.splits["test"]
    calibration = representative_windows(train, options["representative"], options["seed"])
    exported = export_model(config, contract, trained)  # the float reference every figure is compared with
    quantized = exported
    if options["qat_epochs"]:
        from train.qat import fine_tune

        quantized = export_model(config, contract, fine_tune(config, prepared, trained, options["qat_epochs"]), qat=True)
    converted = convert_model(quantized, mode, calibration if mode == "int8" else None, options["per_channel"])
    ops = ops_of(converted)
    if target == "mcu":
        check_microcontroller_ready(mode, ops)
    contract = dataclasses.replace(contract, quantization=quantization_of(converted),
                                   extra={**contract.extra, "data": tested_on(config, prepared)})
    final = embed_contract(converted, contract.to_dict())
    float32 = converted if mode == "float32" else convert_model(exported, "float32", None)
    float32_size = len(embed_contract(float32, contract.to_dict() | {"quantization": None}))  # as shipped
    atomic_write(staged, final)
    atomic_write(sidecar_path(staged), contract.to_json())
    on_tflm = mode in ("int8", "float32")
    if contract.task == "regression":
        report = validate_regression(staged, exported, test, contract, on_tflm, float(np.mean(train.y)))
    else:
        report = validate(staged, exported, test, contract, on_tflm)
    report.update(
        mode=mode, target=target, ops=ops, size_bytes=len(final), float32_size_bytes=float32_size,
        size_ratio=float32_size / len(final), macs=count_macs(trained), params=int(trained.count_params()),
        test_subjects=subject_order(test.subjects.tolist()),
        representative={"windows": len(calibration), "subjects": subject_order(train.subjects.tolist())},
        quantization=contract.quantization,
        weight_quantization=("per-channel" if options["per_channel"] else "per-tensor") if mode == "int8" else None,
        quantization_aware_epochs=options["qat_epochs"],
    )
    return report


def _robustness(staged: Path, raw_test, y) -> dict:
    """The converted model's robustness section, run as the device runs it (its embedded contract)."""
    contract = load_contract(staged)
    return robustness(Classifier(staged, contract), contract, raw_test, y)


def tested_on(config: RunConfig, prepared: Prepared) -> dict:
    """The data options that reproduce the model's test split, for `har evaluate MODEL.tflite` without
    retyping them (window and stride are the contract's own). None as path: the embedded HAPT."""
    data = {k: v for k, v in dataclasses.asdict(config.data).items() if k not in ("window", "stride")}
    data["path"] = os.path.abspath(data["path"]) if data["path"] else None
    for split in ("test", "validation"):
        data[f"{split}_subjects"] = prepared.summary["splits"][split]["subjects"]
    return data


def _failure(report: dict, out: Path, rejected_report: Path) -> str:
    where = f"{out.name} not written (an existing one is left as it was); see {rejected_report}"
    if report["target"] == "mcu" and "tflm" not in report:
        return f"TensorFlow Lite Micro could not run the model: {report['tflm_run'].get('error')}; {where}"
    return f"{'; '.join(report['refused_because'])}; {where}. To keep the converted model close to float, {ADVICE}"
