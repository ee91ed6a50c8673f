"""What a recipe costs on the device, measured before it is trained: the int8 model of its untrained network.

Size, arena and operations of an int8 model depend on its shapes, not on its weights, so one conversion of
freshly initialised weights with a few calibration windows (seconds) tells whether a recipe fits the
budget; a recipe that does not is never trained. The conversion, the TFLM probe and the Cortex-M4 build are
those of `har convert` and `har firmware --check`.
"""
from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

import numpy as np

from convert.flatbuffer import embed_contract, ops_of
from convert.pipeline import tested_on
from convert.quantize import check_microcontroller_ready, convert_model, quantization_of, representative_windows
from convert.tflm_probe import run_tflm
from convert.validate import PROBE_ARENA
from device_runtime import preprocess
from device_runtime.files import atomic_write
from train.data.dataset import Prepared
from train.models import build_model, count_macs
from train.run_config import RunConfig

CALIBRATION_WINDOWS = 32
M4_WINDOWS = 2  # CMSIS-NN instruction counts vary by well under 1% between windows


def measure_cost(config: RunConfig, prepared: Prepared, instructions: bool, qat: bool = False) -> dict:
    """{"params", "macs", "flash_bytes", "arena_bytes", "ops", "instructions" (None unless asked)}; `qat`:
    of the quantization-aware model (per-channel weight scales: a little larger). Flash is the file as
    `har convert` ships it, the contract with the data it was tested on included."""
    contract = prepared.contract
    model = build_model(config.family, contract.window, contract.input_channels, len(contract.class_names),
                        config.model, batch_size=1, channel_names=contract.channels)
    calibration = representative_windows(prepared.splits["train"], CALIBRATION_WINDOWS)
    if qat:
        from train.qat import quantize_aware

        converted = convert_model(quantize_aware(model), "int8", calibration)
    else:
        converted = convert_model(model, "int8", calibration)
    ops = ops_of(converted)
    check_microcontroller_ready("int8", ops)
    q = quantization_of(converted)
    contract = dataclasses.replace(contract, quantization=q, extra={**contract.extra, "data": tested_on(config, prepared)})
    windows = preprocess.quantize(calibration[:M4_WINDOWS], q["input_scale"], q["input_zero_point"])
    shipped = embed_contract(converted, contract.to_dict())
    cost = {"params": int(model.count_params()), "macs": count_macs(model), "flash_bytes": len(shipped),
            "ops": ops, "instructions": None}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.tflite"
        atomic_write(path, shipped)
        _, arena, why = run_tflm(path, windows, PROBE_ARENA)
        if arena is None:
            raise ValueError(f"TensorFlow Lite Micro cannot run the {config.family} of this trial: {why[-300:]}")
        cost["arena_bytes"] = arena
        if instructions:
            cost["instructions"] = m4_instructions(path, windows, ops)
    return cost


def m4_instructions(model: Path, windows: np.ndarray, ops: list[str]) -> int:
    """Instructions of one inference (int8 `windows`) on a Cortex-M4 with CMSIS-NN -Os under QEMU, as
    `har bench --only mcu` measures them."""
    from firmware_gen import check
    from firmware_gen.cli import tflm_root
    from firmware_gen.generate import generate
    from firmware_gen.tflm_build import Target

    out = model.parent / "firmware"
    generate(model, out)
    target = Target("m4", "cmsis-nn", "-Os")
    elf = check.build_app(out, "har", target, tflm_root(None), ops)
    return int(check.run_windows(elf, target, windows)["instructions_per_inference"])
