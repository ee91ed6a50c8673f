"""The `har` command line as a user meets it."""
import subprocess
import sys

from conftest import REPO, write

from har import main


def test_help_lists_the_stages():
    result = subprocess.run([sys.executable, str(REPO / "har.py"), "--help"], capture_output=True, text=True)
    listed = [line.split()[0] for line in result.stdout.split("COMMAND\n", 2)[-1].split("options:")[0].splitlines()
              if line.startswith("    ") and not line.startswith("     ")]
    assert result.returncode == 0 and listed == ["data", "train", "tune", "evaluate", "evaluate-stream", "record",
                                                 "convert", "firmware", "search", "bench"], listed


def test_data_summary_on_a_csv_folder(tmp_path, capsys):
    for subject in ["a", "b", "c", "d"]:
        rows = "".join(f"{i * 20},{i % 7},1,{'walk' if i < 50 else 'sit'}\n" for i in range(100))
        write(tmp_path / f"{subject}.csv", "timestamp_ms,ax,ay,activity\n" + rows)
    assert main(["data", "summary", "--data", str(tmp_path), "--format", "csv", "--window", "20", "--stride", "10",
                 "--test-subjects", "d", "--validation-subjects", "c"]) == 0
    out = capsys.readouterr().out
    assert "sample rate found: 50 Hz" in out
    assert "test: 8 windows from subjects d" in out
    assert "windows dropped: 4 mixed activities" in out


def test_bad_file_gives_a_clear_error_and_exit_2(tmp_path, capsys):
    write(tmp_path / "x.csv", "timestamp_ms,ax,activity\n0,1,walk\n20,oops,walk\n")
    assert main(["data", "summary", "--data", str(tmp_path), "--format", "csv"]) == 2
    assert "x.csv, line 3, field 'ax': 'oops' is not a number" in capsys.readouterr().err


def test_data_posture_refuses_a_bad_pair_or_data_without_an_accelerometer(tmp_path, capsys):
    assert main(["data", "posture", "--pair", "SITTING"]) == 2
    assert "--pair 'SITTING': give two classes" in capsys.readouterr().err
    for subject in ["a", "b", "c", "d"]:
        rows = "".join(f"{i * 20},{i % 7},1,{'walk' if i < 50 else 'sit'}\n" for i in range(100))
        write(tmp_path / f"{subject}.csv", "timestamp_ms,ax,ay,activity\n" + rows)
    assert main(["data", "posture", "--data", str(tmp_path), "--format", "csv", "--window", "20", "--pair", "walk,sit",
                 "--test-subjects", "d", "--validation-subjects", "c"]) == 2
    assert "the posture angle needs acc_x, acc_y, acc_z" in capsys.readouterr().err


def test_installed_modules_import_from_anywhere(tmp_path):
    """`har bench` imports bench.py: it must be installed like har.py, not found only from the repo root."""
    result = subprocess.run([sys.executable, "-c", "import bench, har, train, convert, firmware_gen, device_runtime"],
                            capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
