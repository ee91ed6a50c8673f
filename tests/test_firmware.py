"""Generated TFLM sources: strict compiles, byte-exact model data, bit-exact quantization, no C from data."""
import re
import shutil
import subprocess

import numpy as np
import pytest

from convert.flatbuffer import embed_contract, ops_of
from device_runtime import preprocess
from device_runtime.contract import contract_from_model
from firmware_gen.generate import FirmwareError, arena_size, generate

STRICT_C = ["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-Wdouble-promotion", "-pedantic"]
STRICT_CXX = ["g++", "-std=c++11", "-Wall", "-Wextra", "-Werror", "-Wdouble-promotion", "-pedantic"]
LIBRARY = ["har_classifier.cc", "har_classifier.h", "har_stream.c", "har_stream.h", "model_data.cc", "model_data.h",
           "model_settings.h", "op_resolver.h"]


def sh(args, cwd, **kwargs):
    result = subprocess.run(args, cwd=cwd, capture_output=True, **kwargs)
    assert result.returncode == 0, (args, result.stderr[-3000:])
    return result.stdout


@pytest.fixture(scope="module")
def firmware(tiny_model, tmp_path_factory):
    out = tmp_path_factory.mktemp("firmware")
    generate(tiny_model, out)
    return out


def test_generates_the_documented_files(firmware):
    names = sorted(p.relative_to(firmware).as_posix() for p in firmware.rglob("*") if p.is_file())
    lib = "arduino/HarClassifier"
    assert names == sorted(LIBRARY + ["har_board.h", "main.cc", "sensor_streamer.ino", f"{lib}/library.properties",
                                      f"{lib}/examples/HarClassifier/HarClassifier.ino"] + [f"{lib}/src/{n}" for n in LIBRARY])
    for name in LIBRARY:  # the Arduino library carries the same sources
        assert (firmware / lib / "src" / name).read_bytes() == (firmware / name).read_bytes()


def test_model_data_compiles_strictly_and_reproduces_the_tflite(firmware, tiny_model):
    (firmware / "dump.c").write_text(
        '#include <stdint.h>\n#include <stdio.h>\n#include "model_data.h"\n'
        "int main(void) {\n"
        "  if ((uintptr_t)har_model_data % 16 != 0) return 1;\n"
        "  fwrite(har_model_data, 1, har_model_data_len, stdout);\n  return 0;\n}\n"
    )
    sh(STRICT_CXX + ["-c", "model_data.cc", "-o", "model_data.o"], firmware)
    sh(STRICT_C + ["dump.c", "model_data.o", "-o", "dump"], firmware)
    assert sh(["./dump"], firmware) == tiny_model.read_bytes()


@pytest.mark.parametrize("model, inputs", [("tiny_model", 6), ("tiny_fine_model", 9), ("tiny_vertical_model", 11)],
                         ids=["channels", "fine-motion", "vertical"])
def test_stream_c_and_settings_quantize_real_samples_bit_exactly(model, inputs, request, hapt_loaded, tmp_path):
    """har_stream.c, fed raw HAPT samples, holds exactly the int8 window the Python pipeline makes (with
    fine motion: its window means, scales and clip too; with the vertical inputs: their products, square
    roots and z-scores)."""
    model = request.getfixturevalue(model)
    firmware = tmp_path / "firmware"
    generate(model, firmware)
    contract = contract_from_model(model.read_bytes())
    assert contract.input_channels == inputs
    q = contract.quantization
    raw = hapt_loaded[0][0].samples[1000 : 1000 + contract.window + 5 * contract.stride].astype(np.float32)
    (firmware / "samples.txt").write_text("\n".join(" ".join(f"{v:.9g}" for v in row) for row in raw) + "\n")
    (firmware / "windows.c").write_text(
        '#include <stdio.h>\n#include "har_stream.h"\n'
        "int main(void) {\n  static har_stream_t s;\n  float x[HAR_NUM_CHANNELS];\n  int8_t w[HAR_WINDOW * HAR_NUM_INPUTS];\n"
        "  int c, i;\n  har_stream_restart(&s);\n"
        "  for (;;) {\n    for (c = 0; c < HAR_NUM_CHANNELS; c++) if (scanf(\"%f\", &x[c]) != 1) return 0;\n"
        "    if (har_stream_push(&s, x)) {\n      har_stream_window(&s, w);\n"
        "      for (i = 0; i < HAR_WINDOW * HAR_NUM_INPUTS; i++) printf(\"%d\\n\", w[i]);\n    }\n  }\n}\n"
    )
    sh(STRICT_C + ["windows.c", "har_stream.c", "-o", "windows", "-lm"], firmware)
    with open(firmware / "samples.txt", "rb") as stdin:
        produced = np.array(sh(["./windows"], firmware, stdin=stdin).split(), dtype=np.int64)
    starts = range(0, len(raw) - contract.window + 1, contract.stride)
    windows = np.stack([raw[s : s + contract.window] for s in starts])
    expected = preprocess.quantize(contract.normalise(windows), q["input_scale"], q["input_zero_point"])
    np.testing.assert_array_equal(produced, expected.ravel().astype(np.int64))
    assert len(starts) == 6 and len(np.unique(produced)) > 50


@pytest.mark.parametrize("model", ["tiny_model", "tiny_vertical_model"])
def test_a_sample_no_sensor_gives_is_skipped_without_undefined_behaviour(model, request, hapt_loaded, tmp_path):
    """NaN, infinities and values beyond +-1e6 (that the Pi runtime skips) had reached a float-to-int8
    conversion, undefined in C, and spoiled every window holding them. Built with UBSan, which stops at any;
    the windows must be those of the stream without them."""
    model = request.getfixturevalue(model)
    firmware = tmp_path / "firmware"
    generate(model, firmware)
    contract = contract_from_model(model.read_bytes())
    raw = hapt_loaded[0][0].samples[1000 : 1000 + contract.window + 3 * contract.stride].astype(np.float32)
    lines = [" ".join(f"{v:.9g}" for v in row) for row in raw]
    for at, bad in zip((5, 60, 61, 130, 200, 250), ("nan", "inf", "-inf", "1e30", "3e38", "1000001")):
        lines.insert(at, " ".join([bad] + lines[at].split()[1:]))
    (firmware / "samples.txt").write_text("\n".join(lines) + "\n")
    (firmware / "skip.c").write_text(
        '#include <stdio.h>\n#include "har_stream.h"\n'
        "int main(void) {\n  static har_stream_t s;\n  float x[HAR_NUM_CHANNELS];\n  int8_t w[HAR_WINDOW * HAR_NUM_INPUTS];\n"
        "  int c, i, due;\n  har_stream_restart(&s);\n"
        "  for (;;) {\n    for (c = 0; c < HAR_NUM_CHANNELS; c++) if (scanf(\"%f\", &x[c]) != 1) return 0;\n"
        "    due = har_stream_push(&s, x);\n    if (due < 0) printf(\"skipped\\n\");\n    if (due == 1) {\n"
        "      har_stream_window(&s, w);\n      for (i = 0; i < HAR_WINDOW * HAR_NUM_INPUTS; i++) printf(\"%d\\n\", w[i]);\n"
        "    }\n  }\n}\n"
    )
    sanitized = ["-fsanitize=undefined,float-cast-overflow", "-fno-sanitize-recover=all"]
    sh(STRICT_C + sanitized + ["skip.c", "har_stream.c", "-o", "skip", "-lm"], firmware)
    with open(firmware / "samples.txt", "rb") as stdin:
        produced = sh(["./skip"], firmware, stdin=stdin).split()
    assert produced.count(b"skipped") == 6
    q = contract.quantization
    starts = range(0, len(raw) - contract.window + 1, contract.stride)
    expected = preprocess.quantize(contract.normalise(np.stack([raw[s : s + contract.window] for s in starts])),
                                   q["input_scale"], q["input_zero_point"])
    assert [int(v) for v in produced if v != b"skipped"] == expected.ravel().tolist()


def test_majority_vote_matches_the_pi_runtime(firmware):
    from device_runtime.smoothing import MajorityVote

    labels = [0, 1, 1, 2, 0, 2, 2, 1, 0, 0, 3, 4, 5, 3, 3]
    (firmware / "vote.c").write_text(
        '#include <stdio.h>\n#include "har_stream.h"\nint main(void) {\n  static har_stream_t s;\n'
        "  int label;\n  har_stream_restart(&s);\n"
        '  while (scanf("%d", &label) == 1) printf("%d\\n", har_stream_vote(&s, label));\n  return 0;\n}\n'
    )
    sh(STRICT_C + ["vote.c", "har_stream.c", "-o", "vote", "-lm"], firmware)
    produced = [int(v) for v in sh(["./vote"], firmware, input=" ".join(map(str, labels)).encode()).split()]
    vote = MajorityVote()
    assert produced == [vote.update(np.eye(6)[label]) for label in labels]


def test_op_resolver_names_exactly_the_ops_used(firmware, tiny_model):
    text = (firmware / "op_resolver.h").read_text()
    calls = re.findall(r"resolver\.(Add\w+)\(\)", text)
    ops = ops_of(tiny_model.read_bytes())
    assert f"MicroMutableOpResolver<{len(ops)}>" in text and len(calls) == len(ops) == len(set(calls))
    assert sorted(calls) == ["AddConv2D", "AddFullyConnected", "AddMaxPool2D", "AddMean", "AddReshape", "AddSoftmax"]


def test_arena_is_the_measured_one_plus_the_margin(firmware):
    settings = (firmware / "model_settings.h").read_text()
    arena = int(re.search(r"#define HAR_TENSOR_ARENA_SIZE (\d+)", settings).group(1))
    measured = int(re.search(r"Tensor arena: (\d+) bytes measured", settings).group(1))
    assert arena == arena_size(measured) and measured * 1.25 + 1024 <= arena < measured * 1.25 + 1024 + 16


def test_same_model_same_bytes(firmware, tiny_model, tmp_path):
    for path in generate(tiny_model, tmp_path):
        assert path.read_bytes() == (firmware / path.relative_to(tmp_path)).read_bytes()


def with_contract(model_path, tmp_path, name="changed.tflite", **changes):
    contract = contract_from_model(model_path.read_bytes()).to_dict() | changes
    path = tmp_path / name
    path.write_bytes(embed_contract(model_path.read_bytes(), contract))
    return path


def test_hostile_class_names_cannot_break_the_c(tiny_model, tmp_path):
    names = ['say "hi"', "back\\slash", "%s%n", "café ☕", "*/ end of comment", "??=trigraph"]  # printable: the
    # contract refuses a newline or an escape (tests/test_contract.py)
    out = tmp_path / "fw"
    generate(with_contract(tiny_model, tmp_path, class_names=names), out)
    (out / "names.c").write_text(
        '#include <stdio.h>\n#include "model_settings.h"\n'
        "int main(void) {\n  static const char *const names[HAR_NUM_CLASSES] = HAR_CLASS_NAMES;\n"
        "  int i;\n  for (i = 0; i < HAR_NUM_CLASSES; i++) { fputs(names[i], stdout); putchar(0); }\n  return 0;\n}\n"
    )
    sh(STRICT_C + ["-Wtrigraphs", "names.c", "-o", "names", "-lm"], out)
    assert sh(["./names"], out).split(b"\0")[:-1] == [n.encode() for n in names]


@pytest.mark.parametrize("name", ["evil\n#error injected\n.tflite", "x??=", "end\\", "quote\" int injected;"])
def test_the_model_file_name_is_never_rendered_raw(tiny_model, tmp_path, name):
    """A newline, a trigraph or a backslash in the file name must not add a line of C or continue a comment:
    every file names the model by its escaped literal, and the raw name appears nowhere else."""
    from firmware_gen.c_values import c_string

    model = tmp_path / name
    shutil.copyfile(tiny_model, model)
    out = tmp_path / "fw"
    generate(model, out)
    escaped, files = str(c_string(name)), [p for p in out.rglob("*") if p.is_file()]
    assert sum(escaped in p.read_text() for p in files) >= 5
    for path in files:
        assert name not in path.read_text().replace(escaped, ""), path.name
    (out / "use.c").write_text('#include "model_settings.h"\nint main(void) { return HAR_WINDOW == 0; }\n')
    sh(STRICT_C + ["-Wtrigraphs", "-trigraphs", "use.c", "-o", "use", "-lm"], out)


@pytest.mark.parametrize("change, message", [
    ({"version": "1); int injected(void"}, "contract: version"), ({"window": "128\n#error"}, "contract: window must"),
    ({"stride": 1.5}, "contract: stride must"), ({"quantization": "x"}, "contract: quantization must"),
    ({"norm_std": [0.0] * 6}, "contract: norm_std must"), ({"sample_rate_hz": float("inf")}, "contract: sample_rate_hz"),
    ({"window": 64}, r"contract says \[1, 64, 6\]"),
    ({"class_names": [f"class{i}" for i in range(7)]}, r"contract says \[1, 128, 6\] .* and \[1, 7\]")])
def test_a_crafted_contract_is_refused_not_rendered(tiny_model, tmp_path, change, message):
    """Wrong types or values, and values the model's own tensors contradict (a window of 64 for a model of
    128 had generated sources whose init failed on the board)."""
    from device_runtime.model_file import ModelError

    contract = contract_from_model(tiny_model.read_bytes()).to_dict() | change
    model = tmp_path / "crafted.tflite"
    model.write_bytes(embed_contract(tiny_model.read_bytes(), contract))
    with pytest.raises((FirmwareError, ModelError), match=message):
        generate(model, tmp_path / "fw")
    assert not (tmp_path / "fw" / "model_settings.h").exists()


def test_damaged_models_are_generated_or_refused_never_a_traceback(tiny_model, tmp_path):
    """A flipped byte had sent the flatbuffer reader past the end of the file, or to an op code it has no
    name for: struct.error, TypeError, KeyError. Each mutation: sources, or FirmwareError/ModelError."""
    from device_runtime.model_file import ModelError

    original, rng, outcomes = tiny_model.read_bytes(), np.random.default_rng(0), []
    for i in range(30):
        data = bytearray(original)
        for at in rng.integers(0, len(data), rng.integers(1, 9)):
            data[at] = int(rng.integers(0, 256))
        model = tmp_path / f"m{i}.tflite"
        model.write_bytes(bytes(data))
        try:
            generate(model, tmp_path / f"fw{i}")
            outcomes.append("generated")
        except (FirmwareError, ModelError) as error:
            outcomes.append(str(error).startswith(str(model)))
    assert "generated" in outcomes and True in outcomes and all(outcomes), outcomes  # every refusal names the model


def test_zero_points_render_as_numbers_in_parentheses(firmware):
    settings = (firmware / "model_settings.h").read_text()
    assert re.search(r"#define HAR_OUTPUT_ZERO_POINT \(-128\)\n", settings)


def test_prefix_lets_two_models_share_one_firmware(tiny_model, tmp_path):
    generate(tiny_model, tmp_path)
    generate(tiny_model, tmp_path, prefix="gesture")
    assert (tmp_path / "gesture_model_settings.h").exists() and (tmp_path / "gesture_classifier.h").exists()
    (tmp_path / "both.c").write_text(
        '#include <stdio.h>\n#include "har_stream.h"\n#include "gesture_stream.h"\n#include "model_data.h"\n'
        '#include "gesture_model_data.h"\n'
        'int main(void) { static har_stream_t a; static gesture_stream_t b; har_stream_restart(&a); '
        'gesture_stream_restart(&b); printf("%u %u %d\\n", har_model_data_len, gesture_model_data_len, '
        "HAR_NUM_CLASSES + GESTURE_NUM_CLASSES); return 0; }\n"
    )
    for name in ("model_data", "gesture_model_data"):
        sh(STRICT_CXX + ["-c", f"{name}.cc", "-o", f"{name}.o"], tmp_path)
    sh(STRICT_C + ["both.c", "har_stream.c", "gesture_stream.c", "model_data.o", "gesture_model_data.o", "-o", "both",
                   "-lm"], tmp_path)
    size = tiny_model.stat().st_size
    assert sh(["./both"], tmp_path).decode().split() == [str(size), str(size), "12"]
    with pytest.raises(FirmwareError, match="give a C identifier in lower case"):
        generate(tiny_model, tmp_path, prefix="9lives")


def test_float_model_is_refused(tiny_model, tmp_path):
    with pytest.raises(FirmwareError, match="not a full-int8 model"):
        generate(with_contract(tiny_model, tmp_path, quantization=None), tmp_path / "fw")
