"""The Raspberry Pi runtime measured on this host: replay throughput, latency, memory, invoke times."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent


def write_replay_csv(path: Path, minutes: float = 10.0) -> int:
    """The HAPT test subjects' recordings, concatenated with continuous 50 Hz timestamps, as the sensor
    streamer's CSV: a long real stream for the replay benchmark."""
    from train.data.hapt import EMBEDDED_HAPT
    from train.data.hapt import UCI_HAR_TEST_SUBJECTS, load_hapt

    recordings = [r for r in load_hapt(EMBEDDED_HAPT)[0] if r.subject in UCI_HAR_TEST_SUBJECTS]
    samples = np.concatenate([r.samples for r in recordings])[: int(minutes * 60 * 50)]
    with open(path, "w") as out:
        out.write("timestamp_ms," + ",".join(recordings[0].channels) + "\n")
        for i, row in enumerate(samples):
            out.write(f"{i * 20}," + ",".join(f"{v:.6g}" for v in row) + "\n")
    return len(samples)


def bench_runtime(model: Path, work: Path) -> dict:
    """The Pi runtime replaying a long real stream as fast as it can, pinned to one core."""
    csv = work / "replay.csv"
    samples = write_replay_csv(csv)
    command = ["taskset", "-c", "0", sys.executable, "-m", "device_runtime", "--model", str(model), "--replay", str(csv)]
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, cwd=REPO, check=True)
    wall = time.perf_counter() - start
    summary = json.loads(result.stderr.strip().splitlines()[-1])["summary"]
    latencies = np.array([json.loads(line)["latency_ms"] for line in result.stdout.splitlines()])
    return {
        "samples": samples,
        "predictions": summary["predictions"],
        "loop_seconds": summary["seconds"],
        "samples_per_second": samples / summary["seconds"],
        "samples_per_second_with_startup": samples / wall,
        "latency_ms_p50": float(np.percentile(latencies, 50)),
        "latency_ms_p99": float(np.percentile(latencies, 99)),
        "latency_ms_max": float(latencies.max()),
        "max_rss_mb": summary["max_rss_mb"],
        "interpreter": summary["interpreter"],
    }


INVOKE_TIMER = """
import json, sys, time, numpy as np
kind, path, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
if kind == "tflm":
    from tflite_micro.python.tflite_micro import runtime
    it = runtime.Interpreter.from_file(path, arena_size=1 << 20)
    x = np.zeros(it.get_input_details(0)["shape"], it.get_input_details(0)["dtype"])
    def call():
        t = time.perf_counter(); it.set_input(x, 0); it.invoke(); return time.perf_counter() - t
else:
    from device_runtime.contract import load_contract
    from device_runtime.interpreter import Classifier
    classifier = Classifier(path, load_contract(path), kind.split("+")[0], 1, kind.endswith("xnnpack"))
    x = np.zeros(classifier.input["shape"][1:], classifier.input["dtype"])
    def call():
        return classifier.run(x)[1] / 1000
for _ in range(50):
    call()
print(json.dumps(float(np.median([call() for _ in range(n)]) * 1e6)))
"""


def bench_invoke(model: Path) -> dict:
    """Median microseconds per invoke, one thread, each interpreter in its own process (device_runtime's
    Classifier times the invoke alone; TFLM is timed with setting the input)."""
    medians = {}
    for kind in ("litert", "litert+xnnpack", "tf.lite", "tflm"):
        result = subprocess.run(
            ["taskset", "-c", "0", sys.executable, "-c", INVOKE_TIMER, kind, str(model), "2000"],
            capture_output=True, text=True, cwd=REPO,
        )
        medians[kind] = float(result.stdout.strip().splitlines()[-1]) if result.returncode == 0 else None
    return medians
