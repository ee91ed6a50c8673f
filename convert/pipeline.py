"""`har convert RUN`: a trained run -> MODEL.tflite, MODEL.contract.json, MODEL.report.json and .md.

Order of work: export graph, representative windows (training subjects only), conversion, contract with
the int8 scale/zero-point embedded, validation on the test subjects (LiteRT and TFLM), guardrails, then
the files, each written atomically and the model last, so make never sees a half-finished result.
"""
from __future__ import annotations

import json
from pathlib import Path

from convert.flatbuffer import embed_contract, ops_of
from convert.quantize import (
    ConversionError, check_microcontroller_ready, convert_model, export_model, load_run,
    quantization_of, representative_windows,
)
from convert.validate import markdown, validate
from device_runtime.files import atomic_write
from device_runtime.contract import sidecar_path
from train.data.dataset import prepare
from train.evaluate import resolve_run
from train.models import count_macs


def report_path(model_path: Path, suffix: str) -> Path:
    return model_path.with_name(model_path.stem + f".report.{suffix}")


def convert_run(
    run: str | Path, out: str | Path, mode: str = "int8", target: str = "mcu",
    representative: int = 300, max_drop: float = 1.0, seed: int = 0, per_channel: bool = False,
) -> dict:
    run, out = resolve_run(run), Path(out)
    if target not in ("mcu", "pi"):
        raise ConversionError(f"target must be 'mcu' or 'pi', not '{target}'")
    if target == "mcu":
        check_microcontroller_ready(mode, [])
    config, contract, trained = load_run(run)
    if contract.task != "classification":
        raise ConversionError("conversion validates classifiers; regression models are not supported yet")
    prepared = prepare(config.data, contract)
    train, test = prepared.splits["train"], prepared.splits["test"]
    calibration = representative_windows(train, representative, seed)
    exported = export_model(config, contract, trained)

    converted = convert_model(exported, mode, calibration if mode == "int8" else None, per_channel)
    ops = ops_of(converted)
    if target == "mcu":
        check_microcontroller_ready(mode, ops)
    contract = contract.with_quantization(quantization_of(converted))
    final = embed_contract(converted, contract.to_dict())
    float32 = converted if mode == "float32" else convert_model(exported, "float32", None)
    float32_size = len(embed_contract(float32, contract.to_dict() | {"quantization": None}))  # as shipped

    # Validate the exact bytes that will ship: write them to a temporary path first.
    staging = out.with_name(f".{out.name}.validating")
    atomic_write(staging, final)
    try:
        report = validate(final, staging, exported, test.x, test.y, contract, contract.quantization, on_tflm=mode in ("int8", "float32"))
    finally:
        staging.unlink(missing_ok=True)
    report.update(
        model=out.name, run=str(run), mode=mode, target=target, ops=ops, size_bytes=len(final),
        float32_size_bytes=float32_size, size_ratio=float32_size / len(final), macs=count_macs(trained),
        params=int(trained.count_params()), max_drop_points=max_drop,
        test_subjects=sorted(set(test.subjects.tolist()), key=lambda s: (len(s), s)),
        representative={"windows": len(calibration), "subjects": sorted(set(train.subjects.tolist()), key=lambda s: (len(s), s))},
        quantization=contract.quantization,
        weight_quantization=("per-channel" if per_channel else "per-tensor") if mode == "int8" else None,
    )
    report["passed"] = report["accuracy_drop_points"] <= max_drop and (target != "mcu" or "tflm" in report)
    atomic_write(report_path(out, "json"), json.dumps(report, indent=2))
    atomic_write(report_path(out, "md"), markdown(report))
    if target == "mcu" and "tflm" not in report:
        raise ConversionError(f"TensorFlow Lite Micro could not run the model: {report['tflm_run'].get('error')}")
    if report["accuracy_drop_points"] > max_drop:
        raise ConversionError(
            f"{mode} accuracy is {report['accuracy_drop_points']:.2f} points below float (limit {max_drop:g}); "
            f"{out} not written. See {report_path(out, 'md')}; try more --representative windows or --mode float32"
        )
    atomic_write(sidecar_path(out), contract.to_json())
    atomic_write(out, final)
    return report
