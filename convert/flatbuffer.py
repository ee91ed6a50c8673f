"""Reading and editing .tflite flatbuffers with LiteRT's schema: ops used, names stripped, contract embedded.

LiteRT's generated schema (not TensorFlow's) so that `har firmware` can list a model's ops without
importing TensorFlow. The dependency-free reader of the embedded contract is device_runtime/contract.py.
"""
from __future__ import annotations

import json

import flatbuffers
import numpy as np
from ai_edge_litert import schema_py_generated as schema

from device_runtime.model_file import METADATA_NAME


def _parse(model: bytes) -> "schema.ModelT":
    return schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(bytearray(model), 0))


def _serialise(parsed: "schema.ModelT") -> bytes:
    builder = flatbuffers.Builder(1024)
    builder.Finish(parsed.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def ops_of(model: bytes) -> list[str]:
    """The builtin (and custom) operators the model uses, sorted."""
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    ops = set()
    for code in _parse(model).operatorCodes:
        builtin = max(code.builtinCode, code.deprecatedBuiltinCode)
        ops.add(code.customCode.decode() if code.customCode else names[builtin])
    return sorted(ops)


def strip_names(model: bytes) -> bytes:
    """Drop the description, subgraph and tensor names and signatures: nothing on a device reads them
    (a tenth of a small model)."""
    parsed = _parse(model)
    parsed.description = None
    for subgraph in parsed.subgraphs:
        subgraph.name = None
        for tensor in subgraph.tensors:
            tensor.name = None
    parsed.signatureDefs = None
    return _serialise(parsed)


def embed_contract(model: bytes, contract: dict) -> bytes:
    """Add the contract JSON to the flatbuffer's metadata (the one file the Pi and the header generator need)."""
    parsed = _parse(model)
    buffer = schema.BufferT()
    buffer.data = np.frombuffer(json.dumps(contract, sort_keys=True).encode(), dtype=np.uint8)
    parsed.buffers.append(buffer)
    entry = schema.MetadataT()
    entry.name = METADATA_NAME
    entry.buffer = len(parsed.buffers) - 1
    parsed.metadata = [m for m in (parsed.metadata or []) if m.name.decode() != METADATA_NAME] + [entry]
    return _serialise(parsed)
