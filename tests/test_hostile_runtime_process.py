"""The Pi runtime against hostile models, outputs, clocks, signals and deployment: refused with exit 2 or
survived, never a traceback, nothing written beside the model."""

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from conftest import REPO, require

from device_runtime.contract import contract_from_model, sidecar_path
from hostile_runtime import (  # noqa: F401 (fixtures are used as arguments)
    ROWS, baseline, csv_bytes, in_process, model_path, refused, rows, run_cli, same_as_baseline, work,
)

def bad_models(tmp_path, model_path):
    folder = tmp_path / "folder.tflite"
    folder.mkdir()
    fifo = tmp_path / "fifo.tflite"
    os.mkfifo(fifo)
    bare = tmp_path / "bare.tflite"
    bare.write_bytes(model_path.read_bytes().replace(b"har_contract", b"xxx_contract"))
    truncated = tmp_path / "truncated.tflite"
    truncated.write_bytes(model_path.read_bytes()[:2000])
    (tmp_path / "text.tflite").write_text("timestamp_ms,acc_x\n")
    (tmp_path / "empty.tflite").write_bytes(b"")
    stale = tmp_path / "stale.tflite"
    shutil.copyfile(model_path, stale)
    (tmp_path / "stale.contract.json").write_text("[1, 2]")
    return {"a folder": folder, "a FIFO": fifo, "/dev/zero": "/dev/zero", "missing": tmp_path / "none.tflite",
            "no contract": bare, "truncated": truncated, "a CSV": tmp_path / "text.tflite",
            "empty": tmp_path / "empty.tflite", "a sidecar that is a list": stale}


@pytest.mark.parametrize("case", ["a folder", "a FIFO", "/dev/zero", "missing", "no contract", "truncated", "a CSV",
                                  "empty", "a sidecar that is a list"])
def test_unusable_models_are_refused(work, tmp_path, model_path, case):
    model = str(bad_models(tmp_path, model_path)[case])
    refused(run_cli(["--model", model, "--stdin"], work, timeout=20), model.removesuffix(".tflite"))  # or its sidecar


def test_unreadable_replays_are_refused(work, tmp_path, model_path):
    refused(run_cli(["--model", str(model_path), "--replay", str(tmp_path)], work), "--replay", str(tmp_path))
    refused(run_cli(["--model", str(model_path), "--replay", "none.csv"], work), "--replay none.csv")
    refused(run_cli(["--model", str(model_path), "--replay", "/dev/zero"], work, timeout=20), "is a device")  # had spun


def test_a_port_that_can_never_be_a_serial_device_is_refused(work, tmp_path, model_path):
    """A folder or a plain file had been retried for ever; a missing port is still waited for."""
    refused(run_cli(["--model", str(model_path), "--port", str(tmp_path)], work, timeout=20), "is a folder")
    refused(run_cli(["--model", str(model_path), "--port", str(model_path)], work, timeout=20), "is a regular file")
    refused(run_cli(["--model", str(model_path), "--port", "/dev/null"], work, timeout=20), "is not a serial device")


def test_a_port_without_pyserial_is_a_message(work, model_path):
    """pyserial is needed for --port only: without it, one line naming it (had been a ModuleNotFoundError)."""
    program = ("import sys; sys.modules['serial'] = None\nfrom device_runtime.cli import main\n"
               f"sys.exit(main(['--model', {str(model_path)!r}, '--port', '/dev/ttyACM9']))")
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, cwd=work, timeout=60,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    refused(result, "--port /dev/ttyACM9 needs pyserial: pip install pyserial")


def test_a_model_name_too_long_for_its_sidecar_is_named_at_start_up(work, tmp_path, model_path):
    """The sidecar's name (MODEL.contract.json) is 7 bytes longer than the model's: past the file system's 255,
    `cannot use` it, not `cannot read the input`."""
    model = tmp_path / ("m" * 243 + ".tflite")
    shutil.copyfile(model_path, model)
    err = refused(run_cli(["--model", str(model), "--stdin"], work, timeout=20), "cannot use", "File name too long")
    assert "cannot read the input" not in err


def test_bad_outputs_are_refused_before_anything_runs(work, tmp_path, model_path):
    replay = tmp_path / "in.csv"
    replay.write_bytes(csv_bytes(rows()))
    base = ["--model", str(model_path), "--replay", str(replay)]
    refused(run_cli([*base, "--output", str(tmp_path)], work), "--output", "folder")
    refused(run_cli([*base, "--output", str(replay / "x.jsonl")], work), "--output")
    refused(run_cli([*base, "--output", str(tmp_path / "no" / "x.jsonl")], work), "--output")
    refused(run_cli([*base, "--output", str(replay)], work), "--output", "input")
    refused(run_cli([*base, "--output", str(model_path)], work), "--output", "input")
    own = tmp_path / "own.tflite"
    shutil.copyfile(model_path, own)
    sidecar = sidecar_path(own)
    sidecar.write_text(contract_from_model(own.read_bytes()).to_json())
    mine = ["--model", str(own), "--replay", str(replay)]
    refused(run_cli([*mine, "--output", str(sidecar)], work), "--output", "input")  # every later start refused
    absent = sidecar_path(model_path)  # the model has none: still its name, read on every later start
    refused(run_cli([*base, "--output", str(absent)], work), "--output", "input")
    assert not absent.exists()
    os.mkfifo(tmp_path / "out.fifo")
    refused(run_cli([*mine, "--output", str(tmp_path / "out.fifo")], work, timeout=20), "a FIFO that no process reads")
    assert replay.read_bytes() == csv_bytes(rows())
    assert contract_from_model(own.read_bytes()).to_json() == sidecar.read_text()


def test_a_full_output_ends_with_a_message(work, tmp_path, model_path):
    replay = tmp_path / "in.csv"
    replay.write_bytes(csv_bytes(rows()))
    base = ["--model", str(model_path), "--replay", str(replay)]
    refused(run_cli([*base, "--output", "/dev/full"], work), "--output /dev/full", "No space left")
    with open("/dev/full", "wb") as full:
        refused(run_cli(base, work, stdout=full), "standard output")


def test_a_closed_stdout_ends_with_a_message(work, tmp_path, model_path):
    """`python -m device_runtime ... | head -1`: the reader goes away after the first line."""
    replay = tmp_path / "in.csv"
    replay.write_bytes(csv_bytes(rows(5000)))
    process = subprocess.Popen([sys.executable, "-m", "device_runtime", "--model", str(model_path), "--replay",
                                str(replay)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=work)
    process.stdout.readline()
    process.stdout.close()
    err = process.stderr.read().decode()
    assert process.wait(timeout=60) == 2 and "Traceback" not in err and "broken pipe" in err, err
    assert "Exception ignored" not in err


@pytest.mark.parametrize("closed", [0, 1, 2], ids=["stdin", "stdout", "stderr"])
def test_a_closed_standard_stream_is_refused_or_survived(work, tmp_path, model_path, closed):
    replay = tmp_path / "in.csv"
    replay.write_bytes(csv_bytes(rows()))
    source = ["--stdin"] if closed == 0 else ["--replay", str(replay)]
    streams = {"stdin": subprocess.DEVNULL, "stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
    process = subprocess.run([sys.executable, "-m", "device_runtime", "--model", str(model_path), *source], cwd=work,
                             preexec_fn=lambda: os.close(closed), timeout=60, **streams)
    if closed == 2:  # nothing to say anything on: it classifies, and stdout holds only predictions
        assert process.returncode == 0
        assert len([json.loads(line) for line in process.stdout.decode().splitlines()]) == 1 + (ROWS - 128) // 64
    else:
        refused(process, "standard input" if closed == 0 else "standard output")


# --- --realtime over gaps and odd clocks ----------------------------------------------------------------

def test_realtime_does_not_wait_through_a_year_long_gap_or_a_huge_timestamp(in_process):
    year_ms = 365 * 24 * 3600 * 1000.0
    lines = rows(10) + rows(10, start=year_ms) + ["1e300,0,0,1,0,0,0", *rows(10, start=9e14), *rows(5, start=-50)]
    started = time.monotonic()
    status, _, summary, _ = in_process(csv_bytes(lines), "--realtime")
    assert status == 0 and time.monotonic() - started < 5
    assert summary["samples"] == 35 and summary["stream_events"]


# --- signals: from the very start, and never during the summary ----------------------------------------

@pytest.mark.slow  # waits on real time: a pty, signals or a full evaluation
def test_a_signal_during_start_up_is_a_clean_stop(work, tmp_path, model_path):
    fifo = tmp_path / "never-written.csv"
    os.mkfifo(fifo)  # opening it for --replay blocks: the runtime is held inside its start-up
    for number in (signal.SIGTERM, signal.SIGINT):
        process = subprocess.Popen([sys.executable, "-m", "device_runtime", "--model", str(model_path), "--replay",
                                    str(fifo)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=work)
        time.sleep(1.5)
        process.send_signal(number)
        _, err = process.communicate(timeout=30)
        assert process.returncode == 0 and "during start-up" in err.decode() and "Traceback" not in err.decode()


def test_early_signals_while_importing_never_print_a_traceback(work, model_path):
    for delay in (0.05, 0.1, 0.2, 0.3):
        process = subprocess.Popen([sys.executable, "-m", "device_runtime", "--model", str(model_path), "--stdin"],
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=work)
        time.sleep(delay)
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
        # before Python runs our first line the default action (terminated by SIGTERM) is all there is
        assert process.returncode in (0, -signal.SIGTERM) and b"Traceback" not in err, err


@pytest.mark.slow  # waits on real time: a pty, signals or a full evaluation
def test_a_storm_of_signals_cannot_cut_the_summary_short(work, model_path):
    process = subprocess.Popen([sys.executable, "-m", "device_runtime", "--model", str(model_path), "--stdin"],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=work)
    process.stdin.write(csv_bytes(rows()))
    process.stdin.flush()
    time.sleep(2)
    for i in range(200):
        if process.poll() is not None:
            break
        process.send_signal(signal.SIGINT if i % 2 else signal.SIGTERM)
        time.sleep(0.001)
    _, err = process.communicate(timeout=30)
    err = err.decode()
    assert process.returncode == 0 and "Traceback" not in err, err
    assert err.count('{"summary"') == 1 and "stopped by" in err


@pytest.mark.slow  # waits on real time: a pty, signals or a full evaluation
def test_a_signal_while_waiting_for_a_serial_port_is_a_clean_stop(work, tmp_path, model_path):
    process = subprocess.Popen([sys.executable, "-m", "device_runtime", "--model", str(model_path), "--port",
                                str(tmp_path / "ttyNONE")], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=work)
    time.sleep(2.5)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 0 and b"Traceback" not in err and b"cannot open" in err, err


# --- crafted models: every mutation accepted or refused, none crashes the process -----------------------

MUTATE = textwrap.dedent("""
    import json, os, random, sys, traceback
    from device_runtime.cli import main
    model, replay, folder, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    data, rng, results = open(model, "rb").read(), random.Random(14), []
    for i in range(count):
        m = bytearray(data)
        if i % 10 == 9:
            m = m[: rng.randrange(len(m))]
        for _ in range(rng.randint(1, 8) if i % 10 != 9 else 0):
            m[rng.randrange(len(m))] = rng.choice([0, 1, 0x7F, 0x80, 0xFF, rng.randrange(256)])
        path = os.path.join(folder, "m.tflite")
        open(path, "wb").write(bytes(m))
        log = os.path.join(folder, "err.txt")
        pid = os.fork()
        if pid == 0:
            fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            os.dup2(fd, 2); os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
            try:
                code = main(["--model", path, "--replay", replay])
            except BaseException:
                traceback.print_exc(); code = 99
            sys.stderr.flush(); os._exit(code)
        _, status = os.waitpid(pid, 0)
        err = open(log).read()
        code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else -os.WTERMSIG(status)
        results.append([i, code, "Traceback" in err])
    print(json.dumps(results))
""")


@pytest.mark.parametrize("count", [pytest.param(40, id="40"), pytest.param(400, id="400", marks=pytest.mark.slow)])
def test_mutated_models_are_accepted_or_refused_never_crash(tmp_path, model_path, count):
    replay = tmp_path / "in.csv"
    replay.write_bytes(csv_bytes(rows(200)))
    result = subprocess.run([sys.executable, "-c", MUTATE, str(model_path), str(replay), str(tmp_path), str(count)],
                            capture_output=True, text=True, cwd=REPO, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    outcomes = json.loads(result.stdout)
    bad = [(i, code, traceback) for i, code, traceback in outcomes if code not in (0, 2) or traceback]
    assert not bad and len(outcomes) == count, bad
    assert any(code == 2 for _, code, _ in outcomes) and any(code == 0 for _, code, _ in outcomes)


# --- item 10: the service that runs it ----------------------------------------------------------------

UNIT = REPO / "device_runtime" / "har-classifier.service"


def unit_settings():
    pairs = [line.split("=", 1) for line in UNIT.read_text().splitlines() if "=" in line and not line.startswith("#")]
    return [(key.strip(), value.strip()) for key, value in pairs]


def test_the_service_unit_is_hardened_and_does_not_loop_on_a_refusal(tmp_path):
    settings = unit_settings()
    for required in [("DynamicUser", "yes"), ("SupplementaryGroups", "dialout"), ("RestartPreventExitStatus", "2"),
                     ("ProtectSystem", "strict"), ("ProtectHome", "yes"), ("PrivateTmp", "yes"),
                     ("NoNewPrivileges", "yes"), ("DevicePolicy", "closed"), ("CapabilityBoundingSet", ""),
                     ("SystemCallFilter", "@system-service")]:
        assert required in settings, required
    assert {v for k, v in settings if k == "DeviceAllow"} == {f"char-{t} rw" for t in ("ttyACM", "ttyUSB", "ttyAMA", "ttyS")}
    assert not any(k == "User" for k, _ in settings), "no fixed user name"
    command = dict(settings)["ExecStart"].split()
    from device_runtime.cli import build_parser

    args = build_parser().parse_args(command[command.index("device_runtime") + 1 :])  # the CLI accepts it
    assert args.output.startswith("/var/log/har/")
    require(shutil.which("systemd-analyze") is not None, "systemd-analyze: the exposure figure is not measured")
    copy = tmp_path / "har-classifier.service"
    shutil.copyfile(UNIT, copy)
    result = subprocess.run(["systemd-analyze", "security", "--offline=yes", str(copy)], capture_output=True, text=True)
    require("Overall exposure level" in result.stdout,
            f"a systemd-analyze that rates a unit file offline: {result.stderr.strip()[:200]}")
    exposure = float(result.stdout.split("Overall exposure level for har-classifier.service:")[1].split()[0])
    assert exposure <= 2.0, result.stdout


def test_the_prediction_log_is_rotated_with_copytruncate():
    output = dict(unit_settings())["ExecStart"].split("--output ")[1].split()[0]
    snippet = (REPO / "device_runtime" / "har-classifier.logrotate").read_text()
    assert f"{output} {{" in snippet and "copytruncate" in snippet  # the runtime keeps its file open, appending
