"""The generated Arduino example sketch, built with its library against a TFLM tree and the stub Arduino core
(firmware_gen/stubs) and run on the host: what it prints over 200 s of simulated samples, as JSON lines."""
import json
import shutil
from pathlib import Path

from conftest import REPO


def run_arduino_example(model: Path, out: Path, tflm: Path) -> list[dict]:
    """`out` holds `har firmware`'s output for `model`; 200,000 loop() calls (one sample per 20 at 50 Hz)."""
    from convert.flatbuffer import ops_of
    from firmware_gen import tflm_build

    library = out / "arduino" / "HarClassifier"
    (out / "run.cc").write_text('#include <Arduino.h>\n#include "HarClassifier.ino"\n'
                                "int main() { setup(); for (int i = 0; i < 200000; i++) loop(); return 0; }\n")
    shutil.copy(library / "examples" / "HarClassifier" / "HarClassifier.ino", out)
    sources = [*sorted((library / "src").glob("*.c*")), out / "run.cc"]
    stubs = REPO / "firmware_gen" / "stubs"
    exe = tflm_build.build(library / "src", sources, out / "build", tflm_build.Target(), tflm,
                           ops_of(model.read_bytes()), (f"-I{stubs}", f"-I{out}"))
    return [json.loads(line) for line in tflm_build.run([exe], cwd=out).splitlines()]
