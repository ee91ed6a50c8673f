"""`har firmware MODEL.tflite --out DIR`: C/C++ sources for TensorFlow Lite Micro, rendered from templates/.

Everything comes from the .tflite itself: its bytes, the preprocessing contract embedded by `har convert`
(classes, window, stride, rate, channels, normalisation, int8 scale and zero point), the ops it uses, and
the tensor arena measured by running it on TFLM on this host. Same model in, same bytes out.
"""
from __future__ import annotations

import re
from pathlib import Path

import jinja2
import numpy as np

from convert.flatbuffer import ops_of
from device_runtime.files import atomic_write
from convert.tflm_probe import run_tflm
from device_runtime.contract import load_contract
from device_runtime.smoothing import DEFAULT_VOTES

TEMPLATES = Path(__file__).resolve().parent / "templates"
# 64-bit host arenas run larger than 32-bit ones, but CMSIS-NN and other optimised kernels ask for scratch
# buffers the reference kernels do not: keep a quarter more plus 1 KiB, rounded up to 16 bytes.
ARENA_MARGIN_FACTOR = 1.25
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
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# The sensor streamer sketch reads an LSM9DS1 (g and deg/s) and prints the model's channels in its units.
ACC_SCALES = {"g": "1.0f", "m/s^2": "9.80665f"}
GYRO_SCALES = {"rad/s": "0.0174532925f", "deg/s": "1.0f"}
STREAMED = re.compile(r"^(acc|gyro)_([xyz])$")


class FirmwareError(ValueError):
    """The model cannot be turned into firmware sources as asked."""


def c_string(text: str) -> str:
    """A C string literal for any text: printable ASCII kept, everything else as 3-digit octal escapes
    (never hex, which would swallow following digits), quotes, backslashes and '?' (trigraphs) escaped."""
    out = []
    for byte in text.encode("utf-8"):
        char = chr(byte)
        if char in '"\\?':
            out.append("\\" + char)
        elif 0x20 <= byte < 0x7F:
            out.append(char)
        else:
            out.append(f"\\{byte:03o}")
    return '"' + "".join(out) + '"'


def c_float(value: float) -> str:
    """The float32 nearest to `value`, written so a C compiler reads back exactly that float32."""
    text = f"{float(np.float32(value)):.9g}"
    if not any(c in text for c in ".en"):
        text += ".0"
    return text + "f"


def streamer_channels(contract: dict) -> dict | None:
    """What the streamer sketch prints for each channel, or None if the model wants other sensors or units."""
    exprs, units = [], {"acc": set(), "gyro": set()}
    for name, unit in zip(contract.channels, contract.units):
        match = STREAMED.match(name)
        if not match:
            return None
        sensor, axis = match.groups()
        units[sensor].add(unit)
        exprs.append((name, f"{sensor[0]}{axis} * k{sensor.capitalize()}Scale"))
    acc_unit = next(iter(units["acc"]), "g")
    gyro_unit = next(iter(units["gyro"]), "rad/s")
    if len(units["acc"]) > 1 or len(units["gyro"]) > 1 or acc_unit not in ACC_SCALES or gyro_unit not in GYRO_SCALES:
        return None
    return {"streamer": exprs, "acc_unit": acc_unit, "gyro_unit": gyro_unit,
            "acc_scale": ACC_SCALES[acc_unit], "gyro_scale": GYRO_SCALES[gyro_unit]}


def arena_size(measured: int) -> int:
    return int(-(-(measured * ARENA_MARGIN_FACTOR + ARENA_MARGIN_BYTES) // 16) * 16)


def generate(model_path: str | Path, out_dir: str | Path, prefix: str = "har") -> list[Path]:
    model_path, out_dir = Path(model_path), Path(out_dir)
    if not IDENTIFIER.match(prefix):
        raise FirmwareError(f"prefix '{prefix}' is not a C identifier")
    contract = load_contract(model_path)
    quantization = contract.quantization
    if not quantization:
        raise FirmwareError(f"{model_path} is not a full-int8 model; convert it with `har convert --mode int8`")
    model = model_path.read_bytes()
    ops = ops_of(model)
    unknown = [op for op in ops if op not in RESOLVER_METHODS]
    if unknown:
        raise FirmwareError(f"{model_path} uses ops {unknown} that the generated op resolver does not know")
    probe_input = np.zeros((1, contract.window, len(contract.channels)), np.int8)
    _, measured, why = run_tflm(model_path, probe_input, 1 << 20)
    if measured is None:
        raise FirmwareError(f"TensorFlow Lite Micro cannot run {model_path}: {why}")

    files = "" if prefix == "har" else f"{prefix}_"
    values = {
        "prefix": prefix,
        "PREFIX": prefix.upper(),
        "files": files,
        "source": model_path.name,
        "model_bytes": model,
        "hex_rows": [", ".join(f"0x{b:02x}" for b in model[i : i + 12]) for i in range(0, len(model), 12)],
        "contract": contract,
        "q": quantization,
        "class_names": [c_string(n) for n in contract.class_names],
        "channels": [c_string(n) for n in contract.channels],
        "units": [c_string(u) for u in contract.units],
        "mean": [c_float(v) for v in contract.norm_mean],
        "std": [c_float(v) for v in contract.norm_std],
        "methods": [RESOLVER_METHODS[op] for op in ops],
        "ops": ops,
        "arena_measured": measured,
        "arena": arena_size(measured),
        "margin_factor": ARENA_MARGIN_FACTOR,
        "margin_bytes": ARENA_MARGIN_BYTES,
        "votes": DEFAULT_VOTES,
        "has_lstm": "UNIDIRECTIONAL_SEQUENCE_LSTM" in ops,
        "c_float": c_float,
    }
    streamer = streamer_channels(contract)
    values.update(streamer or {})
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES), undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
        trim_blocks=True, lstrip_blocks=True,
    )
    written = []
    for template in sorted(TEMPLATES.glob("*.j2")):
        if template.name.startswith("sensor_streamer") and streamer is None:
            continue  # the model reads sensors the sketch does not know
        name = files + template.name[: -len(".j2")]
        text = environment.get_template(template.name).render(values)
        atomic_write(out_dir / name, text)
        written.append(out_dir / name)
    return written
