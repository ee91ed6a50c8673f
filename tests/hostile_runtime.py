"""Shared fixtures and helpers of the hostile-input tests of the Pi runtime (tests/test_hostile_runtime_*.py):
a real model, a working folder that must stay clean, and the clean run every survived case must match."""
import json
import os
import shutil
import signal
import subprocess
import sys

import pytest
from conftest import REPO

from device_runtime.cli import main

ROWS = 400  # 6 predictions: one after 128 samples, then one every 64


@pytest.fixture(scope="module")
def model_path(request, tmp_path_factory):
    """The small committed fixture model when conftest has it, else a trained one; copied into a folder
    of its own so that a test can check nothing was written beside it."""
    try:
        source = request.getfixturevalue("tiny_model")
    except pytest.FixtureLookupError:
        source = request.getfixturevalue("int8_model")[1]
    path = tmp_path_factory.mktemp("model") / "model.tflite"
    shutil.copyfile(source, path)
    return path


def rows(n=ROWS, start=0, step=20):
    return [f"{start + i * step},{0.1 * (i % 7)},0.2,0.9,{0.01 * (i % 5)},0,0" for i in range(n)]


def csv_bytes(lines, ending="\n"):
    return "".join(line + ending for line in lines).encode()


@pytest.fixture
def work(tmp_path, model_path):
    """A working folder that must stay empty, and the model's folder that must stay as it is."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    before = sorted(os.listdir(model_path.parent)), model_path.read_bytes()
    yield cwd
    assert os.listdir(cwd) == [], "the runtime wrote into its working folder"
    assert (sorted(os.listdir(model_path.parent)), model_path.read_bytes()) == before, "it wrote beside the model"


@pytest.fixture
def in_process(work, tmp_path, model_path, capsysbinary, monkeypatch):
    """Runs main() on a replayed file; returns (status, predictions, summary, stderr)."""
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    monkeypatch.chdir(work)

    def run(data: bytes, *options):
        replay = tmp_path / "replay.csv"
        replay.write_bytes(data)
        capsysbinary.readouterr()
        status = main(["--model", str(model_path), "--replay", str(replay), *options])
        out, err = capsysbinary.readouterr()
        err = err.decode()
        assert "Traceback" not in err
        summary = json.loads(err.strip().splitlines()[-1])["summary"] if status == 0 else None
        return status, [json.loads(line) for line in out.decode().splitlines()], summary, err

    yield run
    for number, handler in handlers.items():
        signal.signal(number, handler)


def run_cli(args, cwd, stdin=b"", timeout=60, stdout=subprocess.PIPE):
    return subprocess.run([sys.executable, "-m", "device_runtime", *args], input=stdin, stdout=stdout,
                          stderr=subprocess.PIPE, cwd=cwd, timeout=timeout, env={**os.environ, "PYTHONPATH": str(REPO)})


def refused(result, *words):
    err = result.stderr.decode()
    assert result.returncode == 2, err
    assert "Traceback" not in err
    for word in words:
        assert word in err, err
    return err


@pytest.fixture(scope="module")
def baseline(model_path, tmp_path_factory):
    """Predictions on the clean rows: a stream with one hostile line in it must give exactly these."""
    replay = tmp_path_factory.mktemp("baseline") / "clean.csv"
    replay.write_bytes(csv_bytes(["timestamp_ms,acc_x,acc_y,acc_z,gyro_x,gyro_y,gyro_z", *rows()]))
    result = run_cli(["--model", str(model_path), "--replay", str(replay)], cwd=replay.parent)
    assert result.returncode == 0
    predictions = [json.loads(line) for line in result.stdout.decode().splitlines()]
    assert len(predictions) == 1 + (ROWS - 128) // 64
    return [(p["t_ms"], p["class"], p["window_class"]) for p in predictions]


def same_as_baseline(predictions, baseline):
    return [(p["t_ms"], p["class"], p["window_class"]) for p in predictions] == baseline
