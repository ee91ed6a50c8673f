"""Reading and editing .tflite flatbuffers with LiteRT's schema: ops used, names stripped, contract embedded.

LiteRT's generated schema (not TensorFlow's) so that `har firmware` can list a model's ops without
importing TensorFlow. The dependency-free reader of the embedded contract is device_runtime/contract.py.
"""
from __future__ import annotations

import json
import struct

import flatbuffers
import numpy as np
from ai_edge_litert import schema_py_generated as schema

from device_runtime.model_file import METADATA_NAME


class DamagedModel(ValueError):
    """Bytes the flatbuffer reader cannot walk: offsets past the end, vectors where none should be."""


def parse(model: bytes) -> "schema.ModelT":
    """The whole model as objects; DamagedModel if its bytes are not a readable .tflite (a flipped byte can
    send the reader past the end of the file)."""
    try:
        return schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(bytearray(model), 0))
    except (struct.error, IndexError, TypeError, ValueError, AttributeError, RecursionError, MemoryError) as error:
        raise DamagedModel(f"not a readable .tflite flatbuffer ({type(error).__name__}: {str(error)[:120]})") from None


def serialise(parsed: "schema.ModelT") -> bytes:
    builder = flatbuffers.Builder(1024)
    builder.Finish(parsed.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


BUILTIN_NAMES = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}


def _code_name(code: "schema.OperatorCodeT") -> str:
    """The op's name; an unknown builtin code (a damaged model's) as UNKNOWN_<code>, for the caller to refuse."""
    if code.customCode:
        return bytes(code.customCode).decode(errors="replace")
    number = max(code.builtinCode, code.deprecatedBuiltinCode)
    return BUILTIN_NAMES.get(number, f"UNKNOWN_{number}")


def ops_of(model: bytes) -> list[str]:
    """The builtin (and custom) operators the model uses, sorted."""
    return sorted({_code_name(code) for code in parse(model).operatorCodes})


def op_name(parsed: "schema.ModelT", index: int) -> str:
    """The name of the first subgraph's operator number `index`."""
    return _code_name(parsed.operatorCodes[parsed.subgraphs[0].operators[index].opcodeIndex])


def strip_names(model: bytes) -> bytes:
    """Drop the description, subgraph and tensor names and signatures: nothing on a device reads them
    (a tenth of a small model)."""
    parsed = parse(model)
    parsed.description = None
    for subgraph in parsed.subgraphs:
        subgraph.name = None
        for tensor in subgraph.tensors:
            tensor.name = None
    parsed.signatureDefs = None
    return serialise(parsed)


def embed_contract(model: bytes, contract: dict) -> bytes:
    """Add the contract JSON to the flatbuffer's metadata (the one file the Pi and the header generator need)."""
    parsed = parse(model)
    buffer = schema.BufferT()
    buffer.data = np.frombuffer(json.dumps(contract, sort_keys=True).encode(), dtype=np.uint8)
    parsed.buffers.append(buffer)
    entry = schema.MetadataT()
    entry.name = METADATA_NAME
    entry.buffer = len(parsed.buffers) - 1
    parsed.metadata = [m for m in (parsed.metadata or []) if m.name.decode() != METADATA_NAME] + [entry]
    return serialise(parsed)


def tensors_of(op: "schema.OperatorT") -> list:
    """Every tensor index an operator names: inputs (-1: an optional one left out), outputs, intermediates."""
    return [t for field in (op.inputs, op.outputs, op.intermediates) if field is not None for t in field]


def graph_problem(parsed: "schema.ModelT") -> str | None:
    """What makes the first subgraph unsafe to hand an interpreter, in words; None: nothing found.

    Why: TFLM runs the ops in their stored order and trusts every index, so a crafted or damaged model (an
    op reading a tensor no earlier op wrote, an index past the end) gets through its allocation and crashes
    the process when invoked (a division by zero), on the host as on a device."""
    if not parsed.subgraphs:
        return "it has no subgraph"
    graph = parsed.subgraphs[0]
    if graph.inputs is None or graph.outputs is None or not len(graph.inputs) or not len(graph.outputs):
        return "its graph lists no input or no output tensor"
    if any(op.inputs is None or op.outputs is None for op in graph.operators or []):
        return "an operator lists no input or no output tensors"
    tensors = graph.tensors or []
    named = [int(t) for op in graph.operators or [] for t in tensors_of(op)] + [int(t) for t in (*graph.inputs, *graph.outputs)]
    if not all(-1 <= t < len(tensors) for t in named):
        return f"it names a tensor past the last of its {len(tensors)}"
    if not all(0 <= t.buffer < len(parsed.buffers or []) for t in tensors):
        return f"a tensor names a buffer past the last of its {len(parsed.buffers or [])}"
    if not all(0 <= op.opcodeIndex < len(parsed.operatorCodes or []) for op in graph.operators or []):
        return "an operator names an operator code that does not exist"
    data = [parsed.buffers[t.buffer].data for t in tensors]
    written = {int(t) for t in graph.inputs} | {i for i, t in enumerate(tensors) if t.isVariable or
                                                 (data[i] is not None and len(data[i]) > 0)}
    for i, op in enumerate(graph.operators or []):
        unread = [int(t) for t in op.inputs if t >= 0 and int(t) not in written]
        if unread:
            return (f"operator {i} ({op_name(parsed, i)}) reads tensor {unread[0]} before any operator writes it: "
                    "its operators are not in execution order")
        twice = [int(t) for t in op.outputs if int(t) in written]
        if twice:
            return f"operator {i} ({op_name(parsed, i)}) writes tensor {twice[0]}, an input, a constant or an earlier output"
        written.update(int(t) for t in op.outputs)
    unwritten = [int(t) for t in graph.outputs if int(t) not in written]
    return f"no operator writes its output tensor {unwritten[0]}" if unwritten else None


def io_quantization(parsed: "schema.ModelT") -> dict | None:
    """The first subgraph's input and output scale and zero point as the model stores them, in the contract's
    keys (None: a tensor without quantization)."""
    graph, stored = parsed.subgraphs[0], {}
    for side, tensors in (("input", graph.inputs), ("output", graph.outputs)):
        q = graph.tensors[int(tensors[0])].quantization if len(tensors) else None
        if q is None or q.scale is None or len(q.scale) == 0 or q.zeroPoint is None or len(q.zeroPoint) == 0:
            return None
        stored |= {f"{side}_scale": float(q.scale[0]), f"{side}_zero_point": int(q.zeroPoint[0])}
    return stored
