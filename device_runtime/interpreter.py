"""The light interpreter and the classifier around it: LiteRT, else tflite-runtime, else TensorFlow's tf.lite.

Whichever is found, the model is run the same way: int8 (or float) input from the contract's quantization,
variable tensors (LSTM state) reset before every window, output dequantized to class probabilities.
"""
from __future__ import annotations

import importlib
import time

import numpy as np

from device_runtime import preprocess
from device_runtime.contract import Contract
from device_runtime.model_file import ModelError


def _same_quantization(tensor: tuple, scale: float, zero_point: int) -> bool:
    return np.float32(tensor[0]) == np.float32(scale) and int(tensor[1]) == zero_point


def _module_classes(module):
    return module.Interpreter, module.OpResolverType


def _tf_lite_classes():
    """The last resort the issue asks for; loaded only when neither light interpreter is installed."""
    tf = importlib.import_module("tensorflow")
    return tf.lite.Interpreter, tf.lite.experimental.OpResolverType


def find_interpreter(preferred: str | None = None):
    """((Interpreter, OpResolverType), name) of the first interpreter that imports, or of `preferred`."""
    candidates = {
        "litert": lambda: _module_classes(__import__("ai_edge_litert.interpreter", fromlist=["Interpreter"])),
        "tflite-runtime": lambda: _module_classes(__import__("tflite_runtime.interpreter", fromlist=["Interpreter"])),
        "tf.lite": _tf_lite_classes,
    }
    order = [preferred] if preferred else list(candidates)
    errors = []
    for name in order:
        if name not in candidates:
            raise ValueError(f"unknown interpreter '{name}'; choose one of {list(candidates)}")
        try:
            return candidates[name](), name
        except ImportError as error:
            errors.append(f"{name}: {error}")
    raise ModelError("no TensorFlow Lite interpreter found; pip install ai-edge-litert (" + "; ".join(errors) + ")")


class Classifier:
    """One window of raw samples (window x channels, in contract order and units) -> class probabilities."""

    def __init__(
        self, model_path: str, contract: Contract, interpreter: str | None = None, threads: int = 1, xnnpack: bool = False
    ):
        (interpreter_class, resolver), self.interpreter_name = find_interpreter(interpreter)
        # Reference kernels by default: the kernels the conversion report validated, so the Pi reproduces
        # its figures exactly. XNNPACK is faster but may differ by an LSB, which can flip a near tie.
        options = {} if xnnpack else {"experimental_op_resolver_type": resolver.BUILTIN_WITHOUT_DEFAULT_DELEGATES}
        self.interpreter = interpreter_class(model_path=str(model_path), num_threads=threads, **options)
        self.interpreter.allocate_tensors()
        self.input = self.interpreter.get_input_details()[0]
        self.output = self.interpreter.get_output_details()[0]
        self.contract = contract
        expected = (contract.window, len(contract.channels))
        if tuple(self.input["shape"][-2:]) != expected:
            raise ModelError(
                f"{model_path}: the model's input is {list(self.input['shape'])} but its contract says "
                f"{expected[0]} samples x {expected[1]} channels; the model and its settings do not match"
            )
        if tuple(self.output["shape"])[-1] != len(contract.class_names):
            raise ModelError(
                f"{model_path}: the model has {self.output['shape'][-1]} outputs for {len(contract.class_names)} classes"
            )
        q = contract.quantization
        if (self.input["dtype"] == np.int8) != bool(q):
            raise ModelError(f"{model_path}: input type {self.input['dtype'].__name__} does not match the contract's quantization")
        if q and not _same_quantization(self.input["quantization"], q["input_scale"], q["input_zero_point"]):
            raise ModelError(
                f"{model_path}: the contract's int8 input scale/zero point ({q['input_scale']}, {q['input_zero_point']}) "
                f"differ from the model tensor's {tuple(self.input['quantization'])}; reconvert the model"
            )
        self.quantization = q
        self.stateful = hasattr(self.interpreter, "reset_all_variables")

    def model_input(self, raw_window: np.ndarray) -> np.ndarray:
        """Raw window -> the exact tensor the model takes (normalised, then int8-quantized if int8)."""
        z = preprocess.normalise(raw_window, self.contract.norm_mean, self.contract.norm_std)
        if self.quantization:
            return preprocess.quantize(z, self.quantization["input_scale"], self.quantization["input_zero_point"])
        return z

    def __call__(self, raw_window: np.ndarray) -> tuple[np.ndarray, float]:
        """(probabilities, invoke milliseconds) of one raw window."""
        return self.run(self.model_input(raw_window))

    def run(self, tensor: np.ndarray) -> tuple[np.ndarray, float]:
        """(probabilities, invoke milliseconds) of one window already in the model's input form."""
        tensor = tensor[None]
        if self.stateful:
            self.interpreter.reset_all_variables()
        self.interpreter.set_tensor(self.input["index"], tensor.reshape(self.input["shape"]))
        start = time.perf_counter()
        self.interpreter.invoke()
        elapsed = (time.perf_counter() - start) * 1000
        out = self.interpreter.get_tensor(self.output["index"])[0]
        if self.quantization:
            out = preprocess.dequantize(out, self.quantization["output_scale"], self.quantization["output_zero_point"])
        return out, elapsed
