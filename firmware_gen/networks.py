"""A model that averages several networks (`model.members`), cut into one flatbuffer per network plus one
for the averaging ops, so that the firmware runs them one after the other in the same arena.

Why: TFLM keeps every op's data (per-channel multipliers, node structs, tensor records) in the arena for as
long as the interpreter lives, so one interpreter over three networks needs about twice the arena of one
network (16.9 KB against 8.0 KB on the host, for the default CNN). Run part by part, the arena is the
largest part's, and the outputs are the same to the bit: every part keeps the model's own ops, weights and
quantization, in the model's order. The shared input reshape is repeated in each network's part.

Any other model comes back whole, as one part.
"""
from __future__ import annotations

from convert.flatbuffer import graph_problem, op_name, parse, serialise, tensors_of

AVERAGING = ("ADD", "MUL")  # how train/models.py's members_mean layer converts: a sum, times 1/K
SHARED = ("RESHAPE",)  # the only ops several networks may share; each part computes its own copy


def split_networks(model: bytes) -> list[bytes]:
    """[model] for one network; for K averaged networks, K parts (the model's input to one network's
    output), then the part that averages those K outputs into the model's output."""
    parsed = parse(model)
    if len(parsed.subgraphs) != 1 or graph_problem(parsed):
        return [model]  # as it is: `har firmware` refuses a malformed one, saying what is wrong
    graph = parsed.subgraphs[0]
    producer = {int(t): i for i, op in enumerate(graph.operators) for t in op.outputs}
    if len(graph.inputs) != 1 or len(graph.outputs) != 1 or int(graph.outputs[0]) not in producer:
        return [model]
    averaging = _averaging_ops(parsed, producer, int(graph.outputs[0]))
    branches = [int(t) for i in sorted(averaging) for t in graph.operators[i].inputs
                if int(t) in producer and producer[int(t)] not in averaging]
    constant = all(int(t) in producer or _is_constant(parsed, int(t)) for i in averaging for t in graph.operators[i].inputs)
    if len(branches) < 2 or not constant:
        return [model]
    networks = [_ancestors(graph, producer, producer[t]) for t in branches]
    shared = {i for a, network in enumerate(networks) for other in networks[a + 1:] for i in network & other}
    covered = set(averaging).union(*networks)
    if any(op_name(parsed, i) not in SHARED for i in shared) or len(covered) != len(graph.operators):
        return [model]
    inputs = [int(graph.inputs[0])]
    return ([_part(model, network, inputs, [t]) for network, t in zip(networks, branches)]
            + [_part(model, averaging, branches, [int(graph.outputs[0])])])


def _averaging_ops(parsed, producer: dict[int, int], output: int) -> set[int]:
    """The ops from the model's output back through sums and products: the average of the networks."""
    graph, found, todo = parsed.subgraphs[0], set(), [producer[output]]
    while todo:
        i = todo.pop()
        if i in found or op_name(parsed, i) not in AVERAGING:
            continue
        found.add(i)
        todo += [producer[int(t)] for t in graph.operators[i].inputs if int(t) in producer]
    return found


def _ancestors(graph, producer: dict[int, int], op: int) -> set[int]:
    found, todo = set(), [op]
    while todo:
        i = todo.pop()
        if i not in found:
            found.add(i)
            todo += [producer[int(t)] for t in graph.operators[i].inputs if int(t) in producer]
    return found


def _is_constant(parsed, tensor: int) -> bool:
    data = parsed.buffers[parsed.subgraphs[0].tensors[tensor].buffer].data
    return data is not None and len(data) > 0


def _part(model: bytes, ops: set[int], inputs: list[int], outputs: list[int]) -> bytes:
    """The model cut down to `ops` (in the model's order) between `inputs` and `outputs`: only the tensors,
    buffers and operator codes they use, no metadata (the firmware reads the contract from model_settings.h)."""
    parsed = parse(model)
    graph = parsed.subgraphs[0]
    kept = [graph.operators[i] for i in sorted(ops)]
    used = [*inputs, *outputs, *(int(t) for op in kept for t in tensors_of(op) if t >= 0)]
    tensors = {t: n for n, t in enumerate(dict.fromkeys(used))}
    buffers = {0: 0}  # buffer 0 stays the empty sentinel the schema asks for
    for t in tensors:
        buffers.setdefault(graph.tensors[t].buffer, len(buffers))
    codes = {c: n for n, c in enumerate(dict.fromkeys(op.opcodeIndex for op in kept))}
    for op in kept:
        op.inputs = [tensors[int(t)] if t >= 0 else -1 for t in op.inputs]
        op.outputs = [tensors[int(t)] for t in op.outputs]
        if op.intermediates is not None:
            op.intermediates = [tensors[int(t)] for t in op.intermediates]
        op.opcodeIndex = codes[op.opcodeIndex]
    graph.tensors = [graph.tensors[t] for t in tensors]
    for tensor in graph.tensors:
        tensor.buffer = buffers[tensor.buffer]
    graph.operators, graph.inputs, graph.outputs = kept, [tensors[t] for t in inputs], [tensors[t] for t in outputs]
    parsed.buffers = [parsed.buffers[b] for b in buffers]
    parsed.operatorCodes = [parsed.operatorCodes[c] for c in codes]
    parsed.metadata = parsed.signatureDefs = parsed.description = None
    return serialise(parsed)
