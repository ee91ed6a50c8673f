"""Generated TFLM sources: strict compiles, byte-exact model data, bit-exact quantization, Cortex-M4 build."""
import os
import re
import shutil
import subprocess

import numpy as np
import pytest

from convert.flatbuffer import embed_contract
from device_runtime import preprocess
from device_runtime.contract import contract_from_model
from firmware_gen.generate import FirmwareError, generate
from train.data.hapt import EMBEDDED_HAPT
from train.data.hapt import load_hapt
from train.data.windows import cut_windows

STRICT_C = ["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic"]
STRICT_CXX = ["g++", "-std=c++11", "-Wall", "-Wextra", "-Werror", "-pedantic"]


def sh(args, cwd, **kwargs):
    result = subprocess.run(args, cwd=cwd, capture_output=True, **kwargs)
    assert result.returncode == 0, (args, result.stderr[-3000:])
    return result.stdout


@pytest.fixture(scope="module")
def firmware(int8_model, tmp_path_factory):
    out = tmp_path_factory.mktemp("firmware")
    generate(int8_model[1], out)
    return out


def test_generates_the_documented_files(firmware):
    names = sorted(p.name for p in firmware.iterdir())
    assert names == ["main.cc", "model_data.cc", "model_data.h", "model_settings.h", "op_resolver.h", "sensor_streamer.ino"]


def test_model_data_compiles_strictly_and_reproduces_the_tflite(firmware, int8_model):
    (firmware / "dump.c").write_text(
        '#include <stdint.h>\n#include <stdio.h>\n#include "model_data.h"\n'
        "int main(void) {\n"
        "  if ((uintptr_t)har_model_data % 16 != 0) return 1;\n"
        "  fwrite(har_model_data, 1, har_model_data_len, stdout);\n  return 0;\n}\n"
    )
    sh(STRICT_CXX + ["-c", "model_data.cc", "-o", "model_data.o"], firmware)
    sh(STRICT_C + ["dump.c", "model_data.o", "-o", "dump"], firmware)
    assert sh(["./dump"], firmware) == int8_model[1].read_bytes()


def raw_test_windows(count=24):
    """Real HAPT test-subject windows in raw sensor units (g, rad/s), before any normalisation."""
    recordings, _ = load_hapt(EMBEDDED_HAPT)
    test = [r for r in recordings if r.subject in ("2", "9")]
    names = ["WALKING", "WALKING_UPSTAIRS", "WALKING_DOWNSTAIRS", "SITTING", "STANDING", "LAYING"]
    windows, _ = cut_windows(test, 128, 64, {n: n for n in names}, names)
    pick = np.linspace(0, len(windows) - 1, count).astype(int)
    return windows.x[pick]


def test_settings_header_quantizes_real_windows_bit_exactly(firmware, int8_model):
    contract = contract_from_model(int8_model[1].read_bytes())
    q = contract.quantization
    raw = raw_test_windows()
    expected = preprocess.quantize(
        preprocess.normalise(raw, contract.norm_mean, contract.norm_std), q["input_scale"], q["input_zero_point"]
    )
    (firmware / "windows.txt").write_text("\n".join(f"{v:.9g}" for v in raw.astype(np.float32).ravel()) + "\n")
    (firmware / "quantize.c").write_text(
        '#include <stdio.h>\n#include <stdlib.h>\n#include "model_settings.h"\n'
        "int main(void) {\n"
        "  static const float mean[HAR_NUM_CHANNELS] = HAR_NORM_MEAN;\n"
        "  static const float std[HAR_NUM_CHANNELS] = HAR_NORM_STD;\n"
        "  char line[64];\n  long i = 0;\n"
        "  while (fgets(line, sizeof line, stdin)) {\n"
        "    float raw = strtof(line, NULL);\n"
        "    printf(\"%d\\n\", (int)har_quantize_input(raw, mean[i % HAR_NUM_CHANNELS], std[i % HAR_NUM_CHANNELS]));\n"
        "    i++;\n  }\n  return 0;\n}\n"
    )
    sh(STRICT_C + ["quantize.c", "-o", "quantize", "-lm"], firmware)
    with open(firmware / "windows.txt", "rb") as stdin:
        produced = np.array(sh(["./quantize"], firmware, stdin=stdin).split(), dtype=np.int64)
    np.testing.assert_array_equal(produced, expected.ravel().astype(np.int64))
    assert len(np.unique(produced)) > 50  # a real spread of values, not a saturated constant


def test_op_resolver_names_exactly_the_ops_used(firmware, int8_model):
    text = (firmware / "op_resolver.h").read_text()
    calls = re.findall(r"resolver\.(Add\w+)\(\)", text)
    ops = int8_model[2]["ops"]
    assert f"MicroMutableOpResolver<{len(ops)}>" in text and len(calls) == len(ops) == len(set(calls))
    assert "AddConv2D" in calls and "AddFullyConnected" in calls


def test_arena_is_the_measured_one_plus_the_margin(firmware, int8_model):
    settings = (firmware / "model_settings.h").read_text()
    arena = int(re.search(r"#define HAR_TENSOR_ARENA_SIZE (\d+)", settings).group(1))
    measured = int8_model[2]["arena_bytes"]
    assert f"{measured} bytes measured" in settings
    assert measured * 1.25 + 1024 <= arena < measured * 1.25 + 1024 + 16 and arena % 16 == 0


def test_same_model_same_bytes(firmware, int8_model, tmp_path):
    generate(int8_model[1], tmp_path)
    for path in firmware.glob("*.h"):
        assert (tmp_path / path.name).read_bytes() == path.read_bytes()
    assert (tmp_path / "model_data.cc").read_bytes() == (firmware / "model_data.cc").read_bytes()


def with_contract(model_path, tmp_path, **changes):
    contract = contract_from_model(model_path.read_bytes()).to_dict() | changes
    path = tmp_path / "changed.tflite"
    path.write_bytes(embed_contract(model_path.read_bytes(), contract))
    return path


def test_hostile_class_names_cannot_break_the_c(int8_model, tmp_path):
    names = ['say "hi"', "back\\slash", "new\nline", "café ☕", "*/ end of comment", "??=trigraph\a7"]
    out = tmp_path / "fw"
    generate(with_contract(int8_model[1], tmp_path, class_names=names), out)
    (out / "names.c").write_text(
        '#include <stdio.h>\n#include "model_settings.h"\n'
        "int main(void) {\n  static const char *const names[HAR_NUM_CLASSES] = HAR_CLASS_NAMES;\n"
        "  int i;\n  for (i = 0; i < HAR_NUM_CLASSES; i++) { fputs(names[i], stdout); putchar(0); }\n  return 0;\n}\n"
    )
    sh(STRICT_C + ["-Wtrigraphs", "names.c", "-o", "names", "-lm"], out)
    assert sh(["./names"], out).split(b"\0")[:-1] == [n.encode() for n in names]


def test_prefix_lets_two_models_share_one_firmware(int8_model, tmp_path):
    generate(int8_model[1], tmp_path)
    generate(int8_model[1], tmp_path, prefix="gesture")
    assert (tmp_path / "gesture_model_settings.h").exists()
    (tmp_path / "both.c").write_text(
        '#include <stdio.h>\n#include "model_data.h"\n#include "model_settings.h"\n'
        '#include "gesture_model_data.h"\n#include "gesture_model_settings.h"\n'
        'int main(void) { printf("%u %u %d\\n", har_model_data_len, gesture_model_data_len, '
        "HAR_NUM_CLASSES + GESTURE_NUM_CLASSES); return 0; }\n"
    )
    for name in ("model_data", "gesture_model_data"):
        sh(STRICT_CXX + ["-c", f"{name}.cc", "-o", f"{name}.o"], tmp_path)
    sh(STRICT_C + ["both.c", "model_data.o", "gesture_model_data.o", "-o", "both"], tmp_path)
    size = int8_model[1].stat().st_size
    assert sh(["./both"], tmp_path).decode().split() == [str(size), str(size), "12"]
    with pytest.raises(FirmwareError, match="not a C identifier"):
        generate(int8_model[1], tmp_path, prefix="9lives")


def test_float_model_is_refused(int8_model, tmp_path):
    with pytest.raises(FirmwareError, match="not a full-int8 model"):
        generate(with_contract(int8_model[1], tmp_path, quantization=None), tmp_path / "fw")


def test_cross_compiles_for_cortex_m4_with_the_model_in_flash(firmware):
    if not shutil.which("arm-none-eabi-g++"):
        if os.environ.get("CI"):
            pytest.fail("arm-none-eabi-g++ missing: .ci/run installs gcc-arm-none-eabi")
        pytest.skip("arm-none-eabi-g++ not installed (apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi)")
    cpu = ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16", "-Os", "-Wall", "-Wextra", "-Werror"]
    (firmware / "app.c").write_text(
        '#include "model_data.h"\n#include "model_settings.h"\n'
        "volatile int sink;\n"
        "int main(void) {\n  static const float mean[HAR_NUM_CHANNELS] = HAR_NORM_MEAN;\n"
        "  static const float std[HAR_NUM_CHANNELS] = HAR_NORM_STD;\n"
        "  sink = har_model_data[har_model_data_len - 1] + har_quantize_input(1.0f, mean[0], std[0]);\n"
        "  return 0;\n}\n"
    )
    sh(["arm-none-eabi-g++", *cpu, "-std=c++11", "-pedantic", "-c", "model_data.cc", "-o", "model_data_m4.o"], firmware)
    sh(["arm-none-eabi-gcc", *cpu, "-std=c99", "-pedantic", "-c", "app.c", "-o", "app_m4.o"], firmware)
    sh(["arm-none-eabi-gcc", *cpu, "--specs=nosys.specs", "app_m4.o", "model_data_m4.o", "-lm", "-o", "app.elf"], firmware)
    symbols = sh(["arm-none-eabi-objdump", "-t", "app.elf"], firmware).decode()
    line = next(l for l in symbols.splitlines() if l.endswith(" har_model_data"))
    assert " .rodata" in line or " .text" in line, line
    sections = dict(
        (parts[0], int(parts[1])) for parts in (l.split() for l in sh(["arm-none-eabi-size", "-A", "app.elf"], firmware).decode().splitlines())
        if len(parts) >= 2 and parts[0].startswith(".") and parts[1].isdigit()
    )
    size = int(line.split()[-2], 16)
    assert size == (firmware / "model_data.cc").read_text().count("0x")
    assert sections.get(".data", 0) < 4096 and sections[".rodata"] >= size


ARDUINO_STUB = """
#include <stdio.h>
static unsigned long fake_us = 0;
unsigned long micros() { return fake_us += 1000; }
unsigned long millis() { return fake_us / 1000; }
struct SerialPort {
  void begin(long) {}
  explicit operator bool() const { return true; }
  void print(unsigned long v) { printf("%lu", v); }
  void print(char c) { putchar(c); }
  void print(float v, int digits) { printf("%.*f", digits, v); }
  void println() { putchar('\\n'); }
  void println(const char* s) { puts(s); }
} Serial;
struct FakeImu {
  bool begin() { return true; }
  bool accelerationAvailable() { return true; }
  bool gyroscopeAvailable() { return true; }
  void readAcceleration(float& x, float& y, float& z) { x = 0.5f; y = -0.25f; z = 1.0f; }
  void readGyroscope(float& x, float& y, float& z) { x = 180.0f; y = -90.0f; z = 0.0f; }
} IMU;
"""


def test_sensor_streamer_prints_the_models_channels_in_its_units(firmware, tmp_path):
    """Compiled on the host against a stub Arduino core: 50 Hz lines that the recorder and runtime parse."""
    from device_runtime.line_parser import ColumnMap, parse_line

    (tmp_path / "Arduino_LSM9DS1.h").write_text(ARDUINO_STUB)
    (tmp_path / "run.cc").write_text(
        '#include "sketch.cc"\nint main() { setup(); for (int i = 0; i < 100; i++) loop(); return 0; }\n'
    )
    shutil.copy(firmware / "sensor_streamer.ino", tmp_path / "sketch.cc")
    shutil.copy(firmware / "model_settings.h", tmp_path)
    sh(STRICT_CXX + ["-I.", "run.cc", "-o", "streamer"], tmp_path)
    lines = sh(["./streamer"], tmp_path).splitlines()
    columns = ColumnMap(["timestamp_ms", "acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z"],
                        ["acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z"])
    parsed = [parse_line(line, columns) for line in lines]
    times = [t for t, _ in parsed]
    assert len(parsed) >= 5 and all(19 <= d <= 21 for d in np.diff(times))  # one sample every 20 ms (50 Hz)
    np.testing.assert_allclose(parsed[0][1], [0.5, -0.25, 1.0, np.pi, -np.pi / 2, 0.0], rtol=1e-5)
