"""The light interpreter and the classifier around it: LiteRT, else tflite-runtime, else TensorFlow's tf.lite.

Whichever is found, the model is run the same way: int8 (or float) input from the contract's quantization,
variable tensors (LSTM state) reset before every window, output dequantized to class probabilities.
"""
from __future__ import annotations

import importlib
import os
import signal
import time
from pathlib import Path

import numpy as np

from device_runtime import preprocess
from device_runtime.contract import Contract
from device_runtime.model_file import ModelError, read_small_text
from device_runtime.signals import signals_held


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
            with signals_held():
                return candidates[name](), name
        except ImportError as error:
            errors.append(f"{name}: {error}")
    raise ModelError("no TensorFlow Lite interpreter found; pip install ai-edge-litert (" + "; ".join(errors) + ")")


TRIAL_SECONDS = 30.0  # a model made by `har convert` builds and runs a window in milliseconds


def _trial_failure(build) -> str | None:
    """None if building the interpreter and one invoke on zeros end normally in a child process within
    TRIAL_SECONDS; else what went wrong. The native interpreter aborts on some damaged models that its
    flatbuffer verifier accepts (a tensor table missing its shape, say), and a crafted one can loop for ever
    (a WHILE op whose condition stays true): a child's crash or hang is a refusal, ours would not be. The
    child never outlives the trial, whatever ends it (a signal to this process included)."""
    if not hasattr(os, "fork"):
        return None
    pid = os.fork()
    if pid == 0:
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), 2)  # the parent reports whatever the interpreter says
            interpreter = build()
            detail = interpreter.get_input_details()[0]
            interpreter.set_tensor(detail["index"], np.zeros(detail["shape"], detail["dtype"]))
            interpreter.invoke()
        finally:
            os._exit(0)  # Python errors included: the parent meets them again and reports them
    reaped, deadline = False, time.monotonic() + TRIAL_SECONDS
    try:
        while time.monotonic() < deadline:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                reaped = True
                return f"the interpreter crashed ({signal.Signals(os.WTERMSIG(status)).name})" \
                    if os.WIFSIGNALED(status) else None
            time.sleep(0.005)
        return f"the interpreter did not finish one window in {TRIAL_SECONDS:g} s"
    finally:
        if not reaped:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)


class Classifier:
    """One window of raw samples (window x channels, in contract order and units) -> class probabilities."""

    def __init__(self, model: str | Path | bytes, contract: Contract, interpreter: str | None = None,
                 threads: int = 1, xnnpack: bool = False):
        """`model` is a .tflite path or its bytes. Raises ModelError for any model it cannot run."""
        source = "model" if isinstance(model, bytes) else str(model)
        content = model if isinstance(model, bytes) else read_small_text(Path(model), binary=True)
        (interpreter_class, resolver), self.interpreter_name = find_interpreter(interpreter)
        # Reference kernels by default: the kernels the conversion report validated, so the Pi reproduces
        # its figures exactly. XNNPACK is faster but may differ by an LSB, which can flip a near tie.
        options = {} if xnnpack else {"experimental_op_resolver_type": resolver.BUILTIN_WITHOUT_DEFAULT_DELEGATES}

        def build():
            built = interpreter_class(model_content=content, num_threads=threads, **options)
            built.allocate_tensors()
            return built

        failure = _trial_failure(build)
        if failure:
            raise ModelError(f"{source}: {failure} on this model; it is damaged or was not made by `har convert`")
        try:
            self.interpreter = build()
            inputs, outputs = self.interpreter.get_input_details(), self.interpreter.get_output_details()
        except (ValueError, RuntimeError) as error:
            raise ModelError(f"{source}: the interpreter cannot load it ({str(error).strip()[:300]})") from None
        if len(inputs) != 1 or len(outputs) != 1:
            raise ModelError(f"{source}: {len(inputs)} inputs and {len(outputs)} outputs; a classifier has one of each")
        self.input, self.output, self.contract = inputs[0], outputs[0], contract
        self.quantization = contract.quantization
        self._check_tensors(source)
        self.stateful = hasattr(self.interpreter, "reset_all_variables")
        try:
            self.run(np.zeros(self.input["shape"][1:], self.input["dtype"]))
        except (ValueError, RuntimeError) as error:
            raise ModelError(f"{source}: the model fails to run ({str(error).strip()[:300]})") from None

    def _check_tensors(self, source: str) -> None:
        """The tensors must be what the contract describes; else the model and its settings disagree."""
        c, q = self.contract, self.quantization
        expected = (c.window, c.input_channels)
        if tuple(self.input["shape"][-2:]) != expected or self.input["shape"][0] != 1:
            raise ModelError(
                f"{source}: the model's input is {[int(n) for n in self.input['shape']]} but its contract says "
                f"{expected[0]} samples x {expected[1]} values; the model and its settings do not match"
            )
        if list(self.output["shape"]) != [1, len(c.class_names)]:
            raise ModelError(f"{source}: the model's output is {[int(n) for n in self.output['shape']]} for {len(c.class_names)} classes")
        wanted = np.int8 if q else np.float32
        if self.input["dtype"] != wanted or self.output["dtype"] != wanted:
            raise ModelError(f"{source}: tensor types {self.input['dtype'].__name__}/{self.output['dtype'].__name__} "
                             f"do not match the contract's {'int8 quantization' if q else 'float32'}")
        for side, tensor in (("input", self.input), ("output", self.output)) if q else ():
            if not _same_quantization(tensor["quantization"], q[f"{side}_scale"], q[f"{side}_zero_point"]):
                raise ModelError(
                    f"{source}: the contract's int8 {side} scale/zero point ({q[f'{side}_scale']}, "
                    f"{q[f'{side}_zero_point']}) differ from the model tensor's {tuple(tensor['quantization'])}; "
                    "reconvert the model")

    def model_input(self, raw_window: np.ndarray) -> np.ndarray:
        """Raw window -> the exact tensor the model takes (normalised, then int8-quantized if int8)."""
        z = self.contract.normalise(raw_window)
        if self.quantization:
            return preprocess.quantize(z, self.quantization["input_scale"], self.quantization["input_zero_point"])
        return z

    def __call__(self, raw_window: np.ndarray) -> tuple[np.ndarray, float]:
        """(probabilities, invoke milliseconds) of one raw window."""
        return self.run(self.model_input(raw_window))

    def run(self, tensor: np.ndarray) -> tuple[np.ndarray, float]:
        """(probabilities, invoke milliseconds) of one window already in the model's input form."""
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

    def predict(self, inputs: np.ndarray) -> np.ndarray:
        """N windows already in model-input form -> N x classes dequantized probabilities, one window at a
        time with the state reset before each (the batch call of validation, evaluation and bench)."""
        inputs = np.asarray(inputs)
        if inputs.shape[1:] != tuple(self.input["shape"][1:]):
            raise ValueError(f"inputs of shape {inputs.shape}; the model takes N x {[int(n) for n in self.input['shape'][1:]]}")
        out = np.empty((len(inputs), len(self.contract.class_names)), np.float32)
        for i, window in enumerate(inputs):
            out[i] = self.run(window)[0]
        return out
