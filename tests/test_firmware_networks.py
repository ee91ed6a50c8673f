"""A model of several networks, cut into one flatbuffer per network and one that averages them, so that the
firmware's arena holds one network at a time: the parts give the model's scores to the bit."""
import copy
import re
import subprocess

import numpy as np
import pytest

from firmware_gen.generate import generate, measure_arena
from firmware_gen.networks import split_networks
from tests.hostile_support import har  # noqa: F401 (a fixture)


def tflm_scores(model: bytes, windows: list[np.ndarray]) -> np.ndarray:
    """The first output for each list of inputs, on the Python TFLM interpreter."""
    from tflite_micro.python.tflite_micro import runtime

    interpreter = runtime.Interpreter.from_bytes(model, arena_size=1 << 20)
    outputs = []
    for inputs in windows:
        for i, value in enumerate(inputs):
            interpreter.set_input(value, i)
        interpreter.invoke()
        outputs.append(interpreter.get_output(0).copy())
    return np.array(outputs)


def test_a_model_of_one_network_stays_whole(tiny_model, tiny_vertical_model):
    for path in (tiny_model, tiny_vertical_model):
        assert split_networks(path.read_bytes()) == [path.read_bytes()]


def test_two_networks_run_apart_give_the_models_scores_to_the_bit_in_a_smaller_arena(tiny_pair_model):
    model = tiny_pair_model.read_bytes()
    parts = split_networks(model)
    assert len(parts) == 3
    windows = np.random.default_rng(0).integers(-128, 128, (64, 1, 128, 6), dtype=np.int8)
    whole = tflm_scores(model, [[w] for w in windows])
    networks = [tflm_scores(part, [[w] for w in windows]) for part in parts[:2]]
    averaged = tflm_scores(parts[2], [[a, b] for a, b in zip(*networks)])
    assert np.array_equal(averaged, whole) and not np.array_equal(networks[0], networks[1])
    assert measure_arena(tiny_pair_model, parts) < measure_arena(tiny_pair_model, [model])


def test_the_generated_model_data_holds_the_parts_byte_for_byte(tiny_pair_model, tmp_path):
    generate(tiny_pair_model, tmp_path)
    parts = split_networks(tiny_pair_model.read_bytes())
    header = (tmp_path / "model_data.h").read_text()
    assert "#define HAR_MODEL_NETWORKS 2" in header and "#define HAR_MODEL_PARTS 3" in header
    (tmp_path / "dump.cc").write_text(
        '#include <stdint.h>\n#include <stdio.h>\n#include "model_data.h"\n'
        "const unsigned int lens[] = {har_model_part0_len, har_model_part1_len, har_model_part2_len};\n"
        "int main() {\n  for (int p = 0; p < HAR_MODEL_PARTS; p++) {\n"
        "    if ((uintptr_t)har_model_parts[p] % 16 != 0) return 1;\n"
        "    fwrite(har_model_parts[p], 1, lens[p], stdout);\n  }\n  return 0;\n}\n")
    strict = ["g++", "-std=c++11", "-Wall", "-Wextra", "-Werror", "-pedantic"]
    subprocess.run(strict + ["model_data.cc", "dump.cc", "-o", "dump"], cwd=tmp_path, check=True)
    assert subprocess.run(["./dump"], cwd=tmp_path, capture_output=True, check=True).stdout == b"".join(parts)


def _cycle(graph):  # the first network's first convolution reads the model's output
    graph.operators[1].inputs = np.array([graph.outputs[0], *graph.operators[1].inputs[1:]], dtype=np.int32)


def _missing(graph):  # the average reads a tensor that does not exist
    graph.operators[-2].inputs = np.array([9999, graph.operators[-2].inputs[1]], dtype=np.int32)


def _twice(graph):  # two operators write one tensor
    graph.operators[2].outputs = graph.operators[1].outputs


def _unwritten(graph):  # the model's output is a new tensor that no operator writes
    graph.tensors.append(copy.deepcopy(graph.tensors[graph.outputs[0]]))
    graph.outputs = np.array([len(graph.tensors) - 1], dtype=np.int32)


@pytest.mark.parametrize("damage, message", [
    (_cycle, "operator 1 .CONV_2D. reads tensor .* before any operator writes it"),
    (_missing, "it names a tensor past the last of its 33"),
    (_twice, "operator 2 .* writes tensor .*, an input, a constant or an earlier output"),
    (_unwritten, "no operator writes its output tensor")])
def test_a_crafted_graph_is_refused_with_a_message_and_nothing_written(har, tiny_pair_model, tmp_path, damage, message):
    """TFLM trusts the stored order and indices: the cycle got through its allocation and crashed the process
    with a division by zero when invoked; the missing tensor crashed the split with an IndexError."""
    from convert.flatbuffer import parse, serialise

    parsed = parse(tiny_pair_model.read_bytes())
    damage(parsed.subgraphs[0])
    crafted = tmp_path / "crafted.tflite"
    crafted.write_bytes(serialise(parsed))
    assert split_networks(crafted.read_bytes()) == [crafted.read_bytes()]
    status, err = har("firmware", crafted, "--out", tmp_path / "fw")
    assert status == 2 and re.search(f"crafted.tflite: {message}", err), err
    assert not (tmp_path / "fw").exists()
