"""How `har search` scales over worker processes: one small study three ways on this machine.

The same search (MLPs, 2 folds, 3 epochs, 8 trials, flash budget only) is run from scratch by one worker
with one TensorFlow thread, by one worker with every core, and by two workers with one thread each
against one SQLite storage. Wall-clock seconds of each `har search` command, in a fresh process.
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from train.report_table import markdown_table

REPO = Path(__file__).resolve().parent.parent
TRIALS = 8
STUDY = ["search", "--families", "mlp", "--cv", "2", "--epochs", "3", "--trials", str(TRIALS), "--budget", "flash=64KB"]
WAYS = {"1 worker, 1 thread": ["--workers", "1", "--threads", "1"], "1 worker, all cores": ["--workers", "1"],
        "2 workers, 1 thread each": ["--workers", "2", "--threads", "1"]}


def measure(_runs: Path | None = None) -> dict:
    import os

    results = {"trials": TRIALS, "cores": os.cpu_count(), "search_command": " ".join(["har", *STUDY]), "ways": {}}
    for label, options in WAYS.items():
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            done = subprocess.run([sys.executable, "-m", "har", *STUDY, *options, "--runs", tmp, "--name", "scaling"],
                                  cwd=REPO, capture_output=True, text=True)
            seconds = time.perf_counter() - start
            if done.returncode != 0:
                raise ValueError(f"har search {' '.join(options)} failed: {done.stderr.strip()[-500:]}")
            trials = json.loads((Path(tmp) / "search-scaling" / "trials.json").read_text())["trials"]
        results["ways"][label] = {"options": " ".join(options), "seconds": seconds,
                                  "finished": sum(t["state"] in ("complete", "pruned") for t in trials)}
    return results


def markdown(results: dict) -> str:
    one = results["ways"]["1 worker, 1 thread"]
    rows = [(label, f"`{w['options']}`", w["finished"], f"{w['seconds']:.0f} s", f"{one['seconds'] / w['seconds']:.2f}x",
             f"{w['seconds'] / w['finished']:.1f} s", f"{(one['seconds'] / one['finished']) / (w['seconds'] / w['finished']):.2f}x")
            for label, w in results["ways"].items()]
    return "\n".join([
        "## Search over worker processes (`har search --workers`)", "",
        f"`{results['search_command']}` from scratch, three ways, on {results['cores']} cores, each way's workers "
        f"against one SQLite study storage. Two workers may finish a trial more than asked: each stops once the "
        f"study holds {results['trials']} finished trials, and the other's last one was already running.", "",
        markdown_table(["workers", "options", "trials finished", "wall clock", "wall-clock speed-up",
                        "seconds per trial", "throughput speed-up"], rows), "",
    ])
