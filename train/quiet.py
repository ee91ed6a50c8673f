"""TensorFlow without the lines its C++ side prints on a CPU-only machine.

TensorFlow 2.21 writes absl's "All log messages before absl::InitializeLog()" banner and INFO lines
(oneDNN, missing CUDA drivers) straight to file descriptor 2 while it loads, whatever
TF_CPP_MIN_LOG_LEVEL says, and the converter prints its settings there. While TensorFlow loads or
converts, those known lines are caught and dropped; anything else (a real error) is passed on.
HAR_VERBOSE=1 (`har --verbose`) lets everything through.
"""
from __future__ import annotations

import contextlib
import importlib
import os
import re
import sys
import tempfile
import warnings
from collections.abc import Iterator
from types import ModuleType

NOISE = re.compile(
    rb"^(WARNING: All log messages before absl::InitializeLog\(\)"
    rb"|[IW]\d{4} [\d:. ]+\d+ \S+\.cc:\d+\]"
    rb"|E\d{4} [\d:. ]+\d+ cuda_\w+\.cc:\d+\] failed call to cuInit"
    rb"|fully_quantize: \d+, inference_type: \d+"
    rb"|WARNING:absl:Please consider providing the trackable_obj)"
)


@contextlib.contextmanager
def quiet_native_stderr() -> Iterator[None]:
    if os.environ.get("HAR_VERBOSE"):
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture, warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Statistics for quantized inputs were expected")
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            for line in capture:
                if not NOISE.match(line):
                    sys.stderr.buffer.write(line)
            sys.stderr.flush()


def import_quietly(name: str) -> ModuleType:
    """Import tf_keras or tensorflow, and let TensorFlow look for a GPU, with the start-up noise dropped."""
    if name in sys.modules:
        return sys.modules[name]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with quiet_native_stderr():
        module = importlib.import_module(name)
        importlib.import_module("tensorflow").config.list_physical_devices("GPU")
    return module
