"""`har firmware MODEL.tflite --out DIR`: C/C++ sources for TensorFlow Lite Micro, rendered from templates/.

Everything comes from the .tflite itself: its bytes, the preprocessing contract embedded by `har convert`
(classes, window, stride, rate, channels, normalisation, int8 scale and zero point), the ops it uses, and
the tensor arena measured by running it on TFLM on this host. Same model in, same bytes out. Every value
reaches the C through c_values (checked numbers, escaped strings); the templates can print nothing else.
"""
from __future__ import annotations

import re
import tempfile
from pathlib import Path

import jinja2
import numpy as np

from convert.flatbuffer import graph_problem, io_quantization, ops_of, parse
from convert.tflm_probe import run_tflm
from device_runtime.contract import Contract, load_contract
from device_runtime.files import atomic_write
from device_runtime.smoothing import DEFAULT_VOTES
from firmware_gen.c_values import (
    CToken, CValueError, c_bytes, c_float, c_identifier, c_initializer, c_int, c_string, only_tokens,
)
from firmware_gen.networks import split_networks

TEMPLATES = Path(__file__).resolve().parent / "templates"
# 64-bit host arenas run larger than 32-bit ones, but CMSIS-NN and other optimised kernels ask for scratch
# buffers the reference kernels do not: keep a quarter more plus 1 KiB, rounded up to 16 bytes.
ARENA_MARGIN_PERCENT = 25
ARENA_MARGIN_BYTES = 1024
# TFLM's MicroMutableOpResolver method for each builtin op this toolchain's models can contain.
RESOLVER_METHODS = {
    "ADD": "AddAdd", "AVERAGE_POOL_2D": "AddAveragePool2D", "CONCATENATION": "AddConcatenation",
    "CONV_2D": "AddConv2D", "DEPTHWISE_CONV_2D": "AddDepthwiseConv2D", "DEQUANTIZE": "AddDequantize",
    "EXPAND_DIMS": "AddExpandDims", "FULLY_CONNECTED": "AddFullyConnected", "LOGISTIC": "AddLogistic",
    "MAX_POOL_2D": "AddMaxPool2D", "MEAN": "AddMean", "MUL": "AddMul", "PACK": "AddPack",
    "QUANTIZE": "AddQuantize", "RELU": "AddRelu", "RESHAPE": "AddReshape", "SHAPE": "AddShape",
    "SOFTMAX": "AddSoftmax", "SQUEEZE": "AddSqueeze", "STRIDED_SLICE": "AddStridedSlice", "SUB": "AddSub",
    "TANH": "AddTanh", "TRANSPOSE": "AddTranspose", "UNPACK": "AddUnpack",
    "UNIDIRECTIONAL_SEQUENCE_LSTM": "AddUnidirectionalSequenceLSTM",
}
# Template -> output path. {files}: "" or "PREFIX_"; {prefix}: the C prefix; {library}: the Arduino library.
LIBRARY_SOURCES = {
    "model_data.h.j2": "{files}model_data.h", "model_data.cc.j2": "{files}model_data.cc",
    "model_settings.h.j2": "{files}model_settings.h", "op_resolver.h.j2": "{files}op_resolver.h",
    "classifier.h.j2": "{prefix}_classifier.h", "classifier.cc.j2": "{prefix}_classifier.cc",
    "stream.h.j2": "{prefix}_stream.h", "stream.c.j2": "{prefix}_stream.c",
}
HOST_SOURCES = {"board.h.j2": "{prefix}_board.h", "main.cc.j2": "{files}main.cc"}
IMU_SOURCES = {  # only for models that read the IMU's accelerometer and gyroscope
    "sensor_streamer.ino.j2": "{files}sensor_streamer.ino",
    "arduino/example.ino.j2": "arduino/{library}/examples/{library}/{library}.ino",
}
ARDUINO_SOURCES = [("arduino/library.properties.j2", "arduino/{library}/library.properties")] + [
    (template, "arduino/{library}/src/" + name) for template, name in LIBRARY_SOURCES.items()
]
# The sensor streamer sketch reads an LSM9DS1 (g and deg/s) and prints the model's channels in its units.
ACC_SCALES = {"g": "1.0f", "m/s^2": "9.80665f"}
GYRO_SCALES = {"rad/s": "0.0174532925f", "deg/s": "1.0f"}
STREAMED = re.compile(r"^(acc|gyro)_([xyz])$")


class FirmwareError(ValueError):
    """The model cannot be turned into firmware sources as asked."""


def imu_values(contract: Contract) -> dict | None:
    """What the sketches read for each channel, or None if the model wants other sensors or units."""
    exprs, units = [], {"acc": set(), "gyro": set()}
    for name, unit in zip(contract.channels, contract.units):
        match = STREAMED.match(name)
        if not match:
            return None
        sensor, axis = match.groups()
        units[sensor].add(unit)
        exprs.append((c_identifier(name, "channel"), CToken(f"{sensor[0]}{axis} * k{sensor.capitalize()}Scale")))
    acc_unit = next(iter(units["acc"]), "g")
    gyro_unit = next(iter(units["gyro"]), "rad/s")
    if len(units["acc"]) > 1 or len(units["gyro"]) > 1 or acc_unit not in ACC_SCALES or gyro_unit not in GYRO_SCALES:
        return None
    return {"streamer": exprs, "streamer_header": CToken(",".join(name for name, _ in exprs)),
            "sample_exprs": CToken(", ".join(expr for _, expr in exprs)),
            "acc_unit": c_string(acc_unit), "gyro_unit": c_string(gyro_unit),
            "acc_scale": CToken(ACC_SCALES[acc_unit]), "gyro_scale": CToken(GYRO_SCALES[gyro_unit])}


def arena_size(measured: int) -> int:
    return int(-(-(measured * (100 + ARENA_MARGIN_PERCENT) // 100 + ARENA_MARGIN_BYTES) // 16) * 16)


def contract_values(contract: Contract) -> dict[str, CToken]:
    """The contract as checked C tokens: the only way its values reach model_settings.h."""
    q = contract.quantization or {}
    regression = contract.task == "regression"
    channels = len(contract.channels)
    window = c_int(contract.window, "window", 1, 100_000)
    return {
        "version": c_int(contract.version, "version", 1, 1000),
        "sample_rate": c_float(contract.sample_rate_hz, "sample_rate_hz", positive=True),
        "window": window,
        "stride": c_int(contract.stride, "stride", 1, int(window)),
        "num_channels": c_int(channels, "number of channels", 1, 64),
        "num_classes": c_int(len(contract.class_names), "number of classes", 1 if regression else 2, 256),
        "class_names": c_initializer([c_string(n, "class name") for n in contract.class_names]),
        "channels": c_initializer([c_string(n, "channel") for n in contract.channels]),
        "units": c_initializer([c_string(u, "unit") for u in contract.units]),
        "mean": c_initializer([c_float(v, "norm_mean") for v in contract.norm_mean][:channels]),
        "std": c_initializer([c_float(v, "norm_std", positive=True) for v in contract.norm_std][:channels]),
        **fine_motion_values(contract),
        **vertical_values(contract),
        "input_scale": c_float(q.get("input_scale"), "input_scale", positive=True),
        "input_zero_point": c_int(q.get("input_zero_point"), "input_zero_point", -128, 127),
        "output_scale": c_float(q.get("output_scale"), "output_scale", positive=True),
        "output_zero_point": c_int(q.get("output_zero_point"), "output_zero_point", -128, 127),
    } | (target_values(contract) if regression else {"regression": False})


def fine_motion_values(contract: Contract) -> dict:
    """The fine-motion inputs as C tokens: which channels, their scales and the clip (none: num_fine 0)."""
    fine = contract.fine_motion
    if not fine:
        return {"fine": False, "num_fine": c_int(0, "number of fine-motion inputs")}
    return {"fine": True, "num_fine": c_int(len(fine["channels"]), "number of fine-motion inputs", 1, 64),
            "fine_channels": c_initializer([c_int(i, "fine-motion channel", 0, 63) for i in contract.fine_motion_indices]),
            "fine_scale": c_initializer([c_float(v, "fine_motion.scale", positive=True) for v in fine["scale"]]),
            "fine_limit": c_float(fine["limit"], "fine_motion.limit", positive=True)}


def vertical_values(contract: Contract) -> dict:
    """The vertical inputs as C tokens: the triad, and the two inputs' means and standard deviations. `raw`:
    the stream keeps raw samples, since these and fine motion need the whole window's mean."""
    vertical = contract.vertical
    if not vertical:
        return {"vertical": False, "num_vertical": c_int(0, "number of vertical inputs"), "raw": bool(contract.fine_motion)}
    return {"vertical": True, "num_vertical": c_int(2, "number of vertical inputs"), "raw": True,
            "vertical_channels": c_initializer([c_int(i, "vertical channel", 0, 63) for i in contract.vertical_indices]),
            "vertical_mean": c_initializer([c_float(v, "vertical.mean") for v in vertical["mean"]]),
            "vertical_std": c_initializer([c_float(v, "vertical.std", positive=True) for v in vertical["std"]])}


def target_values(contract: Contract) -> dict:
    """A regression model's target as C tokens: name, unit, and the scale and offset that de-normalise."""
    target = contract.target or {"unit": "", "scale": 1.0, "offset": 0.0}
    return {"regression": True, "target_name": c_string(contract.class_names[0], "target name"),
            "target_unit": c_string(target["unit"], "target unit"),
            "target_scale": c_float(target["scale"], "target scale", positive=True),
            "target_offset": c_float(target["offset"], "target offset")}


def part_values(parts: list[bytes], prefix: str) -> dict:
    """The model's flatbuffers as C arrays: the .tflite itself, or its networks and their average."""
    names = [f"{prefix}_model_data"] if len(parts) == 1 else [f"{prefix}_model_part{i}" for i in range(len(parts))]
    return {"parts": [{"name": c_identifier(name, "model array"), "hex_rows": c_bytes(part),
                       "length": c_int(len(part), "model size", 1)} for name, part in zip(names, parts)],
            "split": len(parts) > 1, "num_parts": c_int(len(parts), "model parts", 1),
            "networks": c_int(max(len(parts) - 1, 1), "networks", 1)}


def template_values(model_path: Path, contract: Contract, parts: list[bytes], ops: list[str], measured: int, prefix: str) -> dict:
    methods = [c_identifier(RESOLVER_METHODS[op], "resolver method") for op in ops]
    return contract_values(contract) | {
        "prefix": c_identifier(prefix, "prefix"),
        "PREFIX": c_identifier(prefix.upper(), "prefix"),
        "files": CToken("" if prefix == "har" else f"{prefix}_"),
        "library": c_identifier(f"{prefix.capitalize()}Classifier", "library name"),
        "source": c_string(model_path.name, "model file name"),
        **part_values(parts, prefix),
        "methods": methods,
        "num_methods": c_int(len(methods), "number of ops", 1),
        "arena_measured": c_int(measured, "measured arena", 1),
        "arena": c_int(arena_size(measured), "arena", 1),
        "margin_percent": c_int(ARENA_MARGIN_PERCENT, "margin"),
        "margin_bytes": c_int(ARENA_MARGIN_BYTES, "margin"),
        "votes": c_int(DEFAULT_VOTES, "votes", 1, 255),
        "reset_state": c_int(int("UNIDIRECTIONAL_SEQUENCE_LSTM" in ops), "reset"),
    }


def measure_arena(model_path: Path, parts: list[bytes]) -> int:
    """The arena TFLM allocates for the largest of the model's parts, on this host."""
    measured = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, part in enumerate(parts):
            path = Path(tmp) / f"part{i}.tflite"
            path.write_bytes(part)
            _, arena, why = run_tflm(path, np.zeros((0, 1), np.int8), 1 << 20)  # allocates, invokes nothing
            if arena is None:
                raise FirmwareError(f"TensorFlow Lite Micro cannot run {model_path}: {why}")
            measured.append(arena)
    return max(measured)


def environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES), undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
        trim_blocks=True, lstrip_blocks=True, finalize=only_tokens, autoescape=False,
    )


def render(values: dict, outputs: list[tuple[str, str]], out_dir: Path) -> list[Path]:
    """Render each template to its output path; returns the paths written."""
    env, written = environment(), []
    for template, name in outputs:
        path = out_dir / name.format(files=values["files"], prefix=values["prefix"], library=values["library"])
        atomic_write(path, env.get_template(template).render(values))
        written.append(path)
    return written


def _check_model(model_path: Path, parsed, quantization: dict) -> None:
    """Refuse a graph TFLM would crash on, or int8 settings the model's own tensors contradict (the C would
    quantize the input or read the scores with the wrong scale)."""
    problem = graph_problem(parsed)
    if problem:
        raise FirmwareError(f"{model_path}: {problem}; a damaged or crafted model: convert it again with `har convert`")
    stored = io_quantization(parsed)
    if stored is None or any(np.float32(stored[key]) != np.float32(value) for key, value in quantization.items()):
        raise FirmwareError(f"{model_path}: the contract's int8 quantization {quantization} differs from the model "
                            f"tensors' {stored}; reconvert the model with `har convert`")


def generate(model_path: str | Path, out_dir: str | Path, prefix: str = "har") -> list[Path]:
    model_path, out_dir = Path(model_path).resolve(), Path(out_dir).resolve()
    if not re.match(r"^[a-z][a-z0-9_]*$", prefix):
        raise FirmwareError(f"prefix '{prefix}' is not a C identifier in lower case")
    contract = load_contract(model_path)
    if not contract.quantization:
        raise FirmwareError(f"{model_path} is not a full-int8 model; convert it with `har convert --mode int8`")
    model = model_path.read_bytes()
    _check_model(model_path, parse(model), contract.quantization)
    ops = ops_of(model)
    unknown = [op for op in ops if op not in RESOLVER_METHODS]
    if unknown:
        raise FirmwareError(f"{model_path} uses ops {unknown} that the generated op resolver does not know")
    try:
        parts = split_networks(model)
        values = template_values(model_path, contract, parts, ops, measure_arena(model_path, parts), prefix)
        imu = imu_values(contract)
    except CValueError as error:
        raise FirmwareError(f"{model_path}: {error}") from None
    outputs = [*LIBRARY_SOURCES.items(), *HOST_SOURCES.items(), *ARDUINO_SOURCES, *(IMU_SOURCES.items() if imu else [])]
    return render(values | (imu or {}), outputs, out_dir)
