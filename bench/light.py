"""How light the light paths are: `har firmware` without --check, the Pi runtime's start-up, the fast tests.

Wall-clock seconds of each command in a fresh process, median of a few runs (the test tier once), and
whether it imported TensorFlow (it must not).
"""
from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PROBE = "import runpy, sys; sys.argv = {argv!r}; {run}\nprint('TF', 'tensorflow' in sys.modules, file=sys.stderr)"


def _timed(argv: list[str], run: str, cwd: Path, repeats: int = 3) -> dict:
    seconds, heavy = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = subprocess.run([sys.executable, "-c", PROBE.format(argv=argv, run=run)], cwd=cwd,
                                capture_output=True, text=True)
        seconds.append(time.perf_counter() - start)
        heavy = "TF True" in result.stderr
    if result.returncode != 0:
        raise ValueError(f"{' '.join(argv)} failed (exit {result.returncode}): {result.stderr.strip()[-300:]}")
    return {"command": " ".join(argv), "seconds": statistics.median(seconds), "imports_tensorflow": heavy}


def measure(model: str | Path) -> dict:
    model = Path(model).resolve()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        replay = work / "idle.csv"
        replay.write_text("".join(f"{i * 20},0,0,1,0,0,0\n" for i in range(600)))
        firmware = _timed(["har", "firmware", str(model), "--out", "fw"],
                          "import har; sys.exit(har.main(sys.argv[1:]))", work)
        runtime = _timed(["python -m device_runtime", "--model", str(model), "--replay", str(replay)],
                         "runpy.run_module('device_runtime', run_name='__main__')", work)
    start = time.perf_counter()
    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-m", "not slow", "-p", "no:cacheprovider"],
                           cwd=REPO, capture_output=True, text=True)
    fast = {"command": 'pytest -m "not slow"', "seconds": time.perf_counter() - start,
            "summary": (tests.stdout.strip().splitlines() or [""])[-1], "returncode": tests.returncode}
    return {"firmware": firmware, "runtime_startup": runtime, "fast_tests": fast}


def markdown(light: dict) -> str:
    rows = [f"| `{' '.join(Path(a).name if a.startswith('/') else a for a in r['command'].split())}` | {r['seconds']:.2f} s | "
            f"{'yes' if r['imports_tensorflow'] else 'no'} |" for r in (light["firmware"], light["runtime_startup"])]
    fast = light["fast_tests"]
    return "\n".join([
        "## Light commands (no TensorFlow)", "",
        "Wall-clock time of a fresh process, median of 3 (the runtime replays 600 samples of a still sensor):", "",
        "| command | time | imports TensorFlow |", "|---|---|---|", *rows, "",
        f"The fast test tier (`make test-fast`, `pytest -m \"not slow\"`): {fast['seconds']:.0f} s, {fast['summary']}.",
    ])
