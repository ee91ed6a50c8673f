"""The recorder (`python -m device_runtime.record`, behind `har record`) over a pseudo-terminal: key labels,
rows flushed as they come, Ctrl-C, an unplugged cable, a device clock that restarts; and the protocol file. The files it writes load with the CSV loader."""
import json
import shlex
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from conftest import REPO, PtySensor, write

from device_runtime.record import ProtocolLabels, read_protocol
from train.data.csv_files import load_csv_folder


def sensor_line(t_ms: int) -> bytes:
    return f"{t_ms},{t_ms % 7 / 10:.1f},0.5,-0.25,0.01,0.02,0.03\n".encode()


def start_recorder(sensor, out, *options):
    return subprocess.Popen(
        [sys.executable, "-m", "device_runtime.record", "--port", str(sensor.link), "--out", str(out),
         "--subject", "s7", *options],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO,
    )


def rows_of(path):
    return path.read_text().splitlines()[1:] if path.exists() else []


def wait_for_rows(path, count, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline and len(rows_of(path)) < count:
        time.sleep(0.05)
    return rows_of(path)


@pytest.mark.slow  # waits on real time: a pty, signals or a full evaluation
def test_keys_flushing_disconnect_clock_reset_and_ctrl_c(tmp_path):
    sensor = PtySensor(tmp_path)
    out = tmp_path / "data" / "walk.csv"
    recorder = start_recorder(sensor, out, "--labels", "walk,sit")
    time.sleep(1.5)
    recorder.stdin.write(b"1")
    recorder.stdin.flush()
    time.sleep(0.5)
    for t in range(0, 1000, 20):  # 50 rows of "walk"
        sensor.write(sensor_line(t))
    assert len(wait_for_rows(out, 50)) == 50  # on disk while the recorder still runs: flushed per row
    sensor.write(b"garbage\n\xff\xfe\n1,2,3\n")
    sensor.write(sensor_line(1000)[:9])  # half a line, then the cable goes
    time.sleep(0.3)
    sensor.unplug()
    time.sleep(0.5)
    sensor.plug()
    time.sleep(1.5)
    recorder.stdin.write(b"2")
    recorder.stdin.flush()
    time.sleep(0.5)
    for t in range(1100, 1500, 20):  # 20 rows of "sit"
        sensor.write(sensor_line(t))
    wait_for_rows(out, 70)
    for t in range(0, 200, 20):  # the device restarted: its clock begins again -> a second file
        sensor.write(sensor_line(t))
    second = out.with_name("walk-2.csv")
    assert len(wait_for_rows(second, 10)) == 10
    recorder.send_signal(signal.SIGINT)  # Ctrl-C
    stdout, stderr = recorder.communicate(timeout=20)
    sensor.unplug()
    assert recorder.returncode == 0, stderr.decode()
    summary = json.loads(stdout)
    assert summary["rows"] == 80 and summary["reconnections"] == 1 and summary["ended"] == "stopped by SIGINT"
    assert summary["rows_per_label"] == {"walk": 50, "sit": 30}
    assert sum(summary["skipped_lines"].values()) >= 3
    recordings, _ = load_csv_folder(out.parent)
    first = next(r for r in recordings if r.source.endswith("walk.csv"))
    assert first.subject == "s7" and first.channels[0] == "acc_x" and first.units[0] == "g"
    assert [first.label_names[i] for i in first.labels[[0, 49, 50, 69]]] == ["walk", "walk", "sit", "sit"]
    assert first.sample_rate_hz == pytest.approx(50.0)
    np.testing.assert_allclose(first.samples[3], [0.4, 0.5, -0.25, 0.01, 0.02, 0.03], rtol=1e-6)


def test_protocol_labels_by_device_time(tmp_path):
    steps = read_protocol(write(tmp_path / "p.txt", "# warm-up\nwalk 1 s\n- 0.5 s\nsit 1s\n"))
    assert steps == [("walk", 1.0), ("", 0.5), ("sit", 1.0)]
    said = []
    labels = ProtocolLabels(steps, said.append)
    assert [labels.label(t) for t in (5000, 5980, 6000, 6499, 6500, 7499)] == ["walk", "walk", "", "", "sit", "sit"]
    assert said == ["now: walk for 1 s", "now: unlabelled for 0.5 s", "now: sit for 1 s"]
    with pytest.raises(Exception, match="protocol finished"):
        labels.label(7500)
    with pytest.raises(ValueError, match="line 1: expected 'LABEL SECONDS'"):
        read_protocol(write(tmp_path / "bad.txt", "walk for a while\n"))


@pytest.mark.parametrize("options, message", [
    (["--protocol", "walk,sit 2 s\n"], "p.txt, line 1: the label 'walk,sit': use a plain name"),
    (["--protocol", "walk 1 s\n\"run 2 s\n"], "p.txt, line 2: the label '\"run'"),
    (["--protocol", "walk 1.2.3 s\n"], "p.txt, line 1: expected 'LABEL SECONDS'"),
    (["--protocol", b"caf\xe9 2 s\n"], "p.txt: not UTF-8 text"),
    (["--labels", "walk,sit[1]"], "--labels: the label 'sit[1]'"),
    (["--labels", "walk", "--subject", "s\n1"], "--subject 's\\n1'"),
    (["--labels", "walk", "--units", "g,g,g,rad/s,rad/s,x]"], "the name 'x]'"),
    (["--labels", "walk", "--baud", "99999999999"], "--baud 99999999999: give a baud rate from 1 to 100,000,000")])
def test_a_name_that_would_break_the_csv_is_refused_before_recording(tmp_path, options, message):
    """Written raw, `walk,sit` added a field to every row and `"run` swallowed the rows after it: the data
    layer then refused the whole recording."""
    if options[0] == "--protocol":
        protocol = tmp_path / "p.txt"
        protocol.write_bytes(options[1].encode() if isinstance(options[1], str) else options[1])
        options = ["--protocol", str(protocol)]
    argv = ["--port", str(tmp_path / "no-port"), "--out", str(tmp_path / "r.csv"), "--subject", "s1", *options]
    result = subprocess.run([sys.executable, "-m", "device_runtime.record", *argv], capture_output=True, text=True,
                            cwd=REPO, timeout=60)
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert not (tmp_path / "r.csv").exists()


@pytest.mark.slow  # waits on real time: a pty, signals or a full evaluation
def test_recorder_ends_with_its_protocol(tmp_path):
    sensor = PtySensor(tmp_path)
    out = tmp_path / "p.csv"
    recorder = start_recorder(sensor, out, "--protocol", str(write(tmp_path / "p.txt", "stand 0.4 s\nwalk 0.4 s\n")))
    time.sleep(1.5)
    for t in range(0, 2000, 20):
        sensor.write(sensor_line(t))
    stdout, stderr = recorder.communicate(timeout=20)
    sensor.unplug()
    assert recorder.returncode == 0, stderr.decode()
    assert json.loads(stdout)["rows_per_label"] == {"stand": 20, "walk": 20}
    assert json.loads(stdout)["ended"] == "protocol finished"


def test_a_stop_while_the_recorder_starts_is_clean(tmp_path):
    """SIGTERM while numpy imports or before the stop handlers are in: held, then a clean stop (it had been an
    ImportError or a Stop traceback). SIGINT within the interpreter's own start-up, before any line of ours,
    is Python's KeyboardInterrupt and cannot be caught, so this test sends SIGTERM."""
    for delay in (0.05, 0.1, 0.15, 0.2, 0.3):
        process = subprocess.Popen([sys.executable, "-m", "device_runtime.record", "--port", str(tmp_path / "ttyNONE"),
                                    "--out", str(tmp_path / f"out-{delay}.csv"), "--subject", "1", "--labels", "walk"],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path)
        time.sleep(delay)
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
        assert process.returncode in (0, -signal.SIGTERM) and b"Traceback" not in err, err


def test_the_recorder_holds_stop_signals_from_its_first_line_until_it_can_stop_cleanly():
    """test_a_stop_while_the_recorder_starts_is_clean by timing, this one without: run as a program, the recorder holds SIGINT/SIGTERM from before
    its imports; here --help ends it before run() releases them."""
    code = ("import runpy, signal, sys\nsys.argv = ['record', '--help']\ntry:\n"
            "    runpy.run_module('device_runtime.record', run_name='__main__')\nexcept SystemExit:\n    pass\n"
            "print(sorted(int(s) for s in signal.pthread_sigmask(signal.SIG_BLOCK, [])), file=sys.stderr)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stderr.strip().splitlines()[-1] == str(sorted([int(signal.SIGINT), int(signal.SIGTERM)]))


def test_late_timestamps_are_exact_and_a_clock_reset_never_stops_on_a_taken_name(tmp_path):
    """After 17 minutes of uptime `%g` had written 1.2e+07 five times over (the file then refused as
    non-increasing); a reset with NAME-2.csv already there had ended the session, losing the rest."""
    from device_runtime.record import DEFAULT_COLUMNS, DEFAULT_UNITS, record

    write(tmp_path / "r-2.csv", "precious\n")
    late = [f"{12_000_000 + 20 * i},0.123456789,0.5,-0.25,0.01,0.02,0.03\n".encode() for i in range(200)]
    labels = ProtocolLabels([("walk", 1e6)], lambda message: None)
    summary = record(iter(late + [sensor_line(t) for t in range(0, 4000, 20)]), tmp_path / "r.csv", "s7",
                     DEFAULT_COLUMNS, DEFAULT_UNITS, labels, lambda message: None)
    assert summary["files"] == [str(tmp_path / "r.csv"), str(tmp_path / "r-3.csv")] and summary["rows"] == 400
    assert (tmp_path / "r-2.csv").read_text() == "precious\n"
    assert rows_of(tmp_path / "r.csv")[1].startswith("12000020,0.12345679,0.5,-0.25,")
    (tmp_path / "r-2.csv").unlink()
    recordings, _ = load_csv_folder(tmp_path)
    first = next(r for r in recordings if r.source.endswith("r.csv"))
    assert first.sample_rate_hz == pytest.approx(50.0) and first.samples[0, 0] == np.float32(0.123456789)


@pytest.mark.parametrize("closed, message", [("<&-", "standard input, which is closed; give --protocol FILE"),
                                             (">&-", "standard output is closed")])
def test_a_closed_standard_stream_is_a_message_not_a_traceback(tmp_path, closed, message):
    options = "--labels walk" if closed == "<&-" else f"--protocol {shlex.quote(str(write(tmp_path / 'p.txt', 'walk 1 s')))}"
    command = (f"exec {shlex.quote(sys.executable)} -m device_runtime.record --port {shlex.quote(str(tmp_path / 'no-port'))} "
               f"--out {shlex.quote(str(tmp_path / 'r.csv'))} --subject s1 {options} {closed}")
    process = subprocess.Popen(["sh", "-c", command], stderr=subprocess.PIPE, stdin=subprocess.PIPE, text=True,
                               cwd=REPO)
    time.sleep(3)  # no port: the recorder waits for it; a SIGINT then ends the recording and prints its summary
    process.send_signal(signal.SIGINT)
    stderr = process.communicate(timeout=30)[1]
    assert process.returncode == 2 and message in stderr and "Traceback" not in stderr, stderr
