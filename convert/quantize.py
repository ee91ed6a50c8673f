"""Keras run -> .tflite: the batch-1 export graph, post-training quantization, the contract as metadata.

Full-integer int8 (int8 input and output) is the default and the only mode for microcontrollers besides
float32: dynamic-range and float16 models are refused by TensorFlow Lite Micro at prepare time.
"""
from __future__ import annotations

import contextlib
import sys
from collections import defaultdict

import numpy as np

from convert.flatbuffer import strip_names
from convert.publish import ConversionError
from device_runtime.contract import Contract
from train.data.windows import Windows
from train.models import build_model, keras
from train.quiet import quiet_native_stderr
from train.run_config import RunConfig

MODES = ("int8", "float32", "float16", "dynamic")
MCU_MODES = ("int8", "float32")


def export_model(config: RunConfig, contract: Contract, trained: keras.Model, qat: bool = False) -> keras.Model:
    """The same network rebuilt with batch size 1: static [1, T, C] input, BatchNorm folded into the
    convolution, and (with tf_keras) LSTMs as the fused op TFLM runs. `qat`: `trained` is a
    quantization-aware model (train/qat.py), rebuilt as one."""
    regression = contract.task == "regression"
    head = config.train.output_activation if regression else "softmax"
    n_outputs = 1 if regression else len(contract.class_names)
    model = build_model(config.family, contract.window, contract.input_channels, n_outputs, config.model, head, batch_size=1,
                        channel_names=contract.channels)
    if qat:
        from train.qat import quantize_aware

        model = quantize_aware(model)
    model.set_weights(trained.get_weights())
    return model


CALIBRATION_QUANTILE = 99.99  # of |normalised value| over every training window and channel


def representative_windows(train: Windows, count: int, seed: int = 0) -> np.ndarray:
    """`count` training windows, spread evenly over (class, subject) groups (subjects alone for a regression
    target), for int8 calibration, clipped to +-(the CALIBRATION_QUANTILE of |value| over all training
    values): the int8 input range then spans what the sensors do, not one outlier's extreme (on HAPT 8.2
    instead of 10.5 standard deviations). Rarer values saturate at -128/127, the same in Python, the C and
    the Pi runtime. (A quantization-aware model, `--qat`, brings input ranges learned in fine-tuning.)

    Only the training split goes in: validation and test subjects never influence the quantization."""
    rng = np.random.default_rng(seed)
    groups: dict[tuple, list[int]] = defaultdict(list)
    classes = train.y.tolist() if train.y.dtype.kind in "iu" else [0] * len(train)
    for i, key in enumerate(zip(classes, train.subjects.tolist())):
        groups[key].append(i)
    queues = [list(rng.permutation(idx)) for _, idx in sorted(groups.items())]
    chosen: list[int] = []
    while len(chosen) < min(count, len(train)):
        for queue in queues:
            if queue and len(chosen) < count:
                chosen.append(queue.pop())
    bound = np.percentile(np.abs(train.x), CALIBRATION_QUANTILE)
    return np.clip(train.x[np.sort(chosen)], -bound, bound)


def convert_model(model: keras.Model, mode: str, representative: np.ndarray | None, per_channel: bool = False) -> bytes:
    """Per-tensor int8 weights by default: each per-channel scale costs 12 bytes in weights and biases,
    a tenth of a 25k-parameter model, and on the default CNN bought no accuracy (BENCHMARKS.md)."""
    import tensorflow as tf

    if mode not in MODES:
        raise ConversionError(f"mode '{mode}' is not one of {MODES}")
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if mode == "int8":
        if representative is None or not len(representative):
            raise ConversionError("int8 conversion needs representative training windows")
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: ([w[None].astype(np.float32)] for w in representative)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
        converter._experimental_disable_per_channel = not per_channel
    elif mode == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif mode == "dynamic":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    with contextlib.redirect_stdout(sys.stderr), quiet_native_stderr():  # Keras's export banner, C++ settings
        return strip_names(converter.convert())


def quantization_of(model: bytes) -> dict | None:
    """Input and output scale and zero point of an int8 model (None for a float model)."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=model)
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    if inp["dtype"] != np.int8:
        return None
    return {
        "input_scale": float(inp["quantization"][0]),
        "input_zero_point": int(inp["quantization"][1]),
        "output_scale": float(out["quantization"][0]),
        "output_zero_point": int(out["quantization"][1]),
    }


def check_microcontroller_ready(mode: str, ops: list[str]) -> None:
    """Refuse what TensorFlow Lite Micro cannot run, saying what to do instead."""
    if mode not in MCU_MODES:
        raise ConversionError(
            f"a {mode} model does not run on TensorFlow Lite Micro (its hybrid/float16 kernels are refused at "
            "prepare); use --mode int8 for a microcontroller, or --target pi for a Raspberry Pi"
        )
    flex = [op for op in ops if op.startswith("Flex") or op in ("WHILE", "CALL_ONCE", "VAR_HANDLE", "READ_VARIABLE")]
    if flex:
        raise ConversionError(
            f"the converted model uses {flex}, which TensorFlow Lite Micro cannot run: an RNN became a loop "
            "instead of the fused UNIDIRECTIONAL_SEQUENCE_LSTM. Build LSTMs with tf_keras and batch size 1 "
            "(as train/models.py does), or use --target pi"
        )
