"""Run a model on TensorFlow Lite Micro (the host build of the `tflite-micro` package), in a child process.

A too-small arena can crash the whole process instead of raising, and the arena size is only printed by
print_allocations() to the C-level stderr. So the parent runs this module as a subprocess:

    python -m convert.tflm_probe MODEL INPUTS.npy OUTPUTS.npy --arena BYTES

It invokes the model on every input window (resetting the variable tensors, i.e. LSTM state, before each),
saves the outputs, and prints `arena_bytes=N` measured by TFLM's recording allocator.
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ARENA_RE = re.compile(rb"Arena allocation total (\d+) bytes")


def _allocated_bytes(interpreter) -> int:
    """Capture what print_allocations() writes to file descriptor 2 and read the arena total from it."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            interpreter.print_allocations()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        capture.seek(0)
        text = capture.read()
    match = ARENA_RE.search(text)
    if not match:
        raise RuntimeError(f"TFLM printed no arena total: {text[-500:]!r}")
    return int(match.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model")
    parser.add_argument("inputs", help=".npy of shape (N, T, C) in the model's input type")
    parser.add_argument("outputs", help="where to save the (N, outputs) results")
    parser.add_argument("--arena", type=int, required=True, help="tensor arena size in bytes")
    args = parser.parse_args()

    from tflite_micro.python.tflite_micro import runtime

    interpreter = runtime.Interpreter.from_file(args.model, arena_size=args.arena)
    inputs = np.load(args.inputs)
    outputs = []
    for window in inputs:
        interpreter.reset()
        interpreter.set_input(window[None], 0)  # set before every invoke: the arena reuses the buffer
        interpreter.invoke()
        outputs.append(interpreter.get_output(0)[0].copy())
    np.save(args.outputs, np.array(outputs))
    print(f"arena_bytes={_allocated_bytes(interpreter)}")


def run_tflm(model: Path, inputs: np.ndarray, arena: int, timeout: float = 600) -> tuple[np.ndarray | None, int | None, str]:
    """Outputs and measured arena of a TFLM run in a child process; (None, None, why) if it failed.

    The child runs in the repository (to import this module), so every path it gets is absolute."""
    with tempfile.TemporaryDirectory() as tmp:
        np.save(Path(tmp) / "inputs.npy", inputs)
        try:
            result = subprocess.run(
                [sys.executable, "-m", "convert.tflm_probe", str(Path(model).resolve()), f"{tmp}/inputs.npy", f"{tmp}/outputs.npy", "--arena", str(arena)],
                capture_output=True, text=True, timeout=timeout, cwd=Path(__file__).resolve().parent.parent,
            )
        except subprocess.TimeoutExpired:
            return None, None, f"no result within {timeout:g} s"
        match = re.search(r"arena_bytes=(\d+)", result.stdout)
        if result.returncode != 0 or not match:
            why = f"exit {result.returncode}" + (f" (signal {-result.returncode})" if result.returncode < 0 else "")
            return None, None, f"{why}: {result.stderr.strip()[-800:]}"
        return np.load(f"{tmp}/outputs.npy"), int(match.group(1)), ""


if __name__ == "__main__":
    main()
