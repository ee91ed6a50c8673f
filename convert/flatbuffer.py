"""Reading and editing .tflite flatbuffers with TensorFlow's schema: ops used, names stripped, metadata added.

(The TensorFlow-free reader of the embedded contract is device_runtime/model_contract.py.)
"""
from __future__ import annotations

import json

import numpy as np

from device_runtime.model_contract import METADATA_NAME


def ops_of(model: bytes) -> list[str]:
    """The builtin (and custom) operators the model uses, sorted."""
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    parsed = flatbuffer_utils.convert_bytearray_to_object(bytearray(model))
    ops = set()
    for code in parsed.operatorCodes:
        builtin = max(code.builtinCode, code.deprecatedBuiltinCode)
        ops.add(code.customCode.decode() if code.customCode else names[builtin])
    return sorted(ops)


def strip_names(model: bytes) -> bytes:
    """Drop tensor and subgraph names and signatures: nothing on a device reads them (a tenth of a small model)."""
    from tensorflow.lite.tools import flatbuffer_utils

    parsed = flatbuffer_utils.convert_bytearray_to_object(bytearray(model))
    flatbuffer_utils.strip_strings(parsed)
    return bytes(flatbuffer_utils.convert_object_to_bytearray(parsed))


def embed_contract(model: bytes, contract: dict) -> bytes:
    """Add the contract JSON to the flatbuffer's metadata (the one file the Pi and the header generator need)."""
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    parsed = flatbuffer_utils.convert_bytearray_to_object(bytearray(model))
    buffer = schema.BufferT()
    buffer.data = np.frombuffer(json.dumps(contract, sort_keys=True).encode(), dtype=np.uint8)
    parsed.buffers.append(buffer)
    entry = schema.MetadataT()
    entry.name = METADATA_NAME
    entry.buffer = len(parsed.buffers) - 1
    parsed.metadata = [m for m in (parsed.metadata or []) if m.name.decode() != METADATA_NAME] + [entry]
    return bytes(flatbuffer_utils.convert_object_to_bytearray(parsed))
