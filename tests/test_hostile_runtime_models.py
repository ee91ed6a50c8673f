"""The Pi runtime (and `har firmware`) against crafted models: int8 settings the model's own tensors
contradict, an interpreter that crashes or never ends. Refused with exit 2 and a message, nothing written,
no process left behind."""
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from conftest import REPO
from hostile_runtime import model_path, refused, run_cli, work  # noqa: F401 (fixtures are used as arguments)

from convert.flatbuffer import embed_contract
from device_runtime.contract import contract_from_model
from firmware_gen.generate import FirmwareError, generate


def test_an_output_zero_point_the_model_does_not_have_is_refused(work, model_path, tmp_path):
    """Read with the contract's zero point, every window came out LAYING with negative probabilities."""
    model = model_path.read_bytes()
    contract = contract_from_model(model).to_dict()
    contract["quantization"]["output_zero_point"] = 127
    crafted = tmp_path / "crafted.tflite"
    crafted.write_bytes(embed_contract(model, contract))
    refused(run_cli(["--model", str(crafted), "--stdin"], work), str(crafted), "int8 output scale/zero point")
    with pytest.raises(FirmwareError, match="crafted.tflite: the contract's int8 quantization .* differs from"):
        generate(crafted, tmp_path / "fw")
    assert not (tmp_path / "fw").exists()


CRAFTED_INTERPRETER = textwrap.dedent("""
    import os, sys
    from device_runtime import interpreter
    from device_runtime.cli import main
    (real, resolver), name = interpreter.find_interpreter()
    interpreter.TRIAL_SECONDS = float(sys.argv[3])

    class Crafted(real):
        def allocate_tensors(self):
            if sys.argv[2] == "abort":
                os.abort()  # what LiteRT does on some damaged models its flatbuffer verifier accepts
            return super().allocate_tensors()

        def invoke(self):
            while True:  # what a WHILE op whose condition stays true does
                pass

    interpreter.find_interpreter = lambda preferred=None: ((Crafted, resolver), name)
    sys.exit(main(["--model", sys.argv[1], "--stdin"]))
""")


@pytest.fixture
def crafted_runtime(model_path, work):
    """Start the runtime with a crafted interpreter; whatever a failing test leaves in its group is killed."""
    started = []

    def start(how: str, trial_seconds: float) -> subprocess.Popen:
        started.append(_popen(model_path, work, how, trial_seconds))
        return started[-1]

    yield start
    for process in started:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _popen(model_path, work, how: str, trial_seconds: float) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", CRAFTED_INTERPRETER, str(model_path), how, str(trial_seconds)],
                            cwd=work, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "PYTHONPATH": str(REPO)}, start_new_session=True)


def processes_in(group: int) -> int:
    return sum(1 for pid in os.listdir("/proc") if pid.isdigit() and _group_of(pid) == group)


def _group_of(pid: str) -> int | None:
    try:
        return int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[2])
    except (OSError, IndexError, ValueError):
        return None


def test_a_model_that_aborts_the_interpreter_is_refused(crafted_runtime, model_path):
    """Seen once in 3,200 mutations of a 30 KB model: a tensor table's vtable moved, LiteRT aborted in
    allocate_tensors. The trial in a child process turns any such crash into a refusal."""
    process = crafted_runtime("abort", 30)
    refused(subprocess.CompletedProcess(process.args, process.wait(60), b"", process.stderr.read()),
            str(model_path), "crashed (SIGABRT)")


def test_a_model_that_never_finishes_a_window_is_refused_and_its_trial_killed(crafted_runtime, model_path):
    process = crafted_runtime("loop", 1)
    refused(subprocess.CompletedProcess(process.args, process.wait(60), b"", process.stderr.read()),
            str(model_path), "did not finish one window in 1 s")
    assert processes_in(process.pid) == 0


def test_a_signal_during_the_trial_leaves_no_process_behind(crafted_runtime):
    """Under systemd every restart would have added one more child spinning at 100% CPU."""
    process = crafted_runtime("loop", 600)
    deadline = time.time() + 60
    while processes_in(process.pid) < 2 and time.time() < deadline:  # the runtime and its trial
        time.sleep(0.05)
    assert processes_in(process.pid) == 2
    process.send_signal(signal.SIGTERM)
    process.wait(30)
    assert "Traceback" not in process.stderr.read().decode()
    assert processes_in(process.pid) == 0
