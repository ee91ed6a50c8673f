"""A model of several networks, cut into one flatbuffer per network and one that averages them, so that the
firmware's arena holds one network at a time: the parts give the model's scores to the bit."""
import subprocess

import numpy as np
import pytest

from firmware_gen.generate import generate, measure_arena
from firmware_gen.networks import split_networks


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


def test_a_crafted_model_naming_a_missing_tensor_is_refused_with_a_message(tiny_pair_model, tmp_path):
    from convert.flatbuffer import parse, serialise
    from firmware_gen.generate import FirmwareError

    parsed = parse(tiny_pair_model.read_bytes())
    average = parsed.subgraphs[0].operators[-2]
    average.inputs = np.array([9999, average.inputs[1]], dtype=np.int32)
    crafted = tmp_path / "crafted.tflite"
    crafted.write_bytes(serialise(parsed))
    assert split_networks(crafted.read_bytes()) == [crafted.read_bytes()]
    with pytest.raises(FirmwareError, match="TensorFlow Lite Micro cannot run .*crafted.tflite"):
        generate(crafted, tmp_path / "fw")
    assert not (tmp_path / "fw").exists()
