"""Hostile data and options for `har data summary` (and `har train` where it stops before TensorFlow).

Each case runs the real command in-process and checks what a user sees: exit status 2 and a message
naming the file, line, field or option, no traceback, nothing written anywhere (the inputs live in
tmp_path, which must hold exactly the files the test wrote). Cases that must be handled, not refused,
check the honest summary instead. No TensorFlow: this is the fast tier.
"""
import io
import lzma
import os
import tarfile

import pytest
from conftest import REPO, write

from har import main
import train.data.hapt as hapt

HEADER = "timestamp_ms,ax,ay,activity\n"


def rows(n=100, value=None, label=None):
    """n rows at 50 Hz: walk then sit, or one label; `value` replaces ax on row 2 (file line 3)."""
    out = []
    for i in range(n):
        ax = value if value is not None and i == 1 else i % 7
        out.append(f"{i * 20},{ax},1,{label or ('walk' if i < 50 else 'sit')}\n")
    return "".join(out)


@pytest.fixture
def folder(tmp_path):
    """A valid CSV dataset of subjects a-d, one file each."""
    for subject in "abcd":
        write(tmp_path / "data" / f"{subject}.csv", HEADER + rows())
    return tmp_path / "data"


def files_under(path):
    return sorted(p for p in path.rglob("*"))


def run(argv, capsys, tmp_path):
    """Run `har ARGV` from inside tmp_path; return (status, stdout, stderr) after checking that nothing was
    written, in tmp_path or in the repository."""
    before, repo_before = files_under(tmp_path), sorted(os.listdir(REPO))
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        status = main(argv)
    finally:
        os.chdir(cwd)
    out, err = capsys.readouterr()
    assert files_under(tmp_path) == before and sorted(os.listdir(REPO)) == repo_before
    assert "Traceback" not in err + out
    return status, out, err


def refused(argv, capsys, tmp_path, *expected):
    status, _, err = run(argv, capsys, tmp_path)
    command = "train" if argv[0] == "train" else "data"
    assert status == 2 and err.startswith(f"har {command}: error: "), err
    for text in expected:
        assert text in err, f"{text!r} not in {err!r}"
    assert "np.str_" not in err and "\n" not in err.strip()
    return err


def summary(folder, *options):
    return ["data", "summary", "--data", str(folder), "--format", "csv", "--window", "20", "--stride", "10",
            "--test-subjects", "d", "--validation-subjects", "c", *options]


# --- values beyond float32 (item 7): refused naming file, line and field, or counted honestly ---------

@pytest.mark.parametrize("value", ["1e39", "-3.5e38", "inf", "nan"])
def test_csv_value_not_finite_as_float32(folder, capsys, tmp_path, value):
    write(folder / "b.csv", HEADER + rows(value=value))
    refused(summary(folder), capsys, tmp_path, "b.csv, line 3, field 'ax'", "not finite as float32")


def test_csv_skip_bad_rows_counts_the_overflow_in_the_summary(folder, capsys, tmp_path):
    write(folder / "b.csv", HEADER + rows(value="1e39"))
    status, out, _ = run(summary(folder, "--skip-bad-rows"), capsys, tmp_path)
    assert status == 0 and "rows skipped: 1 value not finite as float32" in out and "b.csv, line 3" in out


def test_csv_regression_target_beyond_float32(tmp_path, capsys):
    for subject in "abcd":
        body = "".join(f"{i * 20},{i % 7},{1e39 if subject == 'b' and i == 5 else i},walk\n" for i in range(100))
        write(tmp_path / "data" / f"{subject}.csv", "timestamp_ms,ax,speed,activity\n" + body)
    config = write(tmp_path / "c.toml", '[data]\ntarget_column = "speed"\n')
    refused(summary(tmp_path / "data", "--config", str(config)), capsys, tmp_path,
            "b.csv, line 7, field 'speed'", "not finite as float32")


@pytest.mark.parametrize("value", ["inf", "1e39"])
def test_pamap2_value_not_finite_as_float32(tmp_path, capsys, value):
    rows = [" ".join([f"{i / 100:.2f}", "4", "100", "1", value if i == 9 else "1"] + ["1"] * 49) for i in range(300)]
    data = write(tmp_path / "data" / "subject101.dat", "\n".join(rows) + "\n").parent  # column 5: hand acc x
    refused(["data", "summary", "--data", str(data), "--format", "pamap2"], capsys, tmp_path,
            "subject101.dat, line 10, field 'column 5'", "not finite as float32")


def test_wisdm_overflow_is_skipped_and_counted(tmp_path, capsys):
    activity = ["Walking"] * 50 + ["Jogging"] * 50
    lines = [f"{u},{activity[i]},{1_000_000_000 + i * 50_000_000},{1e39 if i == 3 else 0.5},1,9.8;"
             for u in "1234" for i in range(100)]
    data = write(tmp_path / "wisdm.txt", "\n".join(lines) + "\n")
    status, out, _ = run(["data", "summary", "--data", str(data), "--format", "wisdm", "--window", "20",
                          "--test-subjects", "4", "--validation-subjects", "3"], capsys, tmp_path)
    assert status == 0 and "rows skipped: 4 value not finite as float32" in out and "wisdm.txt, line 4" in out


def test_hapt_folder_value_beyond_float32(tmp_path, capsys):
    write(tmp_path / "h/activity_labels.txt", "1 WALKING\n")
    write(tmp_path / "h/RawData/acc_exp01_user01.txt", "0 0 0\n0 3e38 0\n0 0 4e38\n")
    write(tmp_path / "h/RawData/gyro_exp01_user01.txt", "0 0 0\n" * 3)
    write(tmp_path / "h/RawData/labels.txt", "1 1 1 1 3\n")
    refused(["data", "summary", "--data", str(tmp_path / "h")], capsys, tmp_path,
            "acc_exp01_user01.txt, line 3, field 'column 3'", "value 4e+38 is not finite as float32")


# --- archives (item 8): bounded, and every failure names the archive ---------------------------------

def xz_tar(path, members):
    """A .tar.xz of (name, declared size, data) members, the declared size possibly a lie."""
    raw = io.BytesIO()
    for name, size, data in members:
        info = tarfile.TarInfo(name)
        info.size = size
        raw.write(info.tobuf(format=tarfile.GNU_FORMAT) + data + b"\0" * (-len(data) % 512))
    raw.write(b"\0" * 1024)
    path.write_bytes(lzma.compress(raw.getvalue()))
    return path


def test_archive_member_declaring_4_gb(tmp_path, capsys):
    archive = xz_tar(tmp_path / "bomb.tar.xz", [("RawData/acc_exp01_user01.txt", 4 << 30, b"0 0 0\n")])
    assert archive.stat().st_size < 10_000
    refused(["data", "summary", "--data", str(archive)], capsys, tmp_path,
            "bomb.tar.xz: RawData/acc_exp01_user01.txt", "declares 4,294,967,296 bytes")


def test_archive_members_beyond_the_total_bound(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(hapt, "MAX_ARCHIVE_BYTES", 200_000)
    zeros = b"0 0 0\n" * 20_000
    archive = xz_tar(tmp_path / "big.tar.xz", [(f"junk{i}.txt", len(zeros), zeros) for i in range(3)])
    refused(["data", "summary", "--data", str(archive)], capsys, tmp_path,
            "big.tar.xz: junk1.txt: declares 120,000 bytes (240,000 so far)")


def test_archive_header_beyond_the_output_bound(tmp_path, capsys, monkeypatch):
    """A pax header is read whole, outside any member's declared size: the decompressed output is capped."""
    monkeypatch.setattr(hapt, "MAX_ARCHIVE_BYTES", 200_000)
    info = tarfile.TarInfo("activity_labels.txt")
    info.pax_headers = {"comment": "x" * 300_000}
    archive = tmp_path / "pax.tar.xz"
    archive.write_bytes(lzma.compress(info.tobuf(format=tarfile.PAX_FORMAT) + b"\0" * 1024))
    refused(["data", "summary", "--data", str(archive)], capsys, tmp_path,
            "pax.tar.xz: decompresses to more than 200,000 bytes")


@pytest.mark.parametrize("damage", ["garbage", "truncated", "not xz"])
def test_archive_that_cannot_be_read(tmp_path, capsys, damage):
    good = xz_tar(tmp_path / "good.bin", [("activity_labels.txt", 10, b"1 WALKING\n")]).read_bytes()
    data = {"garbage": os.urandom(4000), "truncated": good[: len(good) // 2], "not xz": b"PK\x03\x04" + good}[damage]
    (tmp_path / "good.bin").unlink()
    archive = write(tmp_path / "bad.tar.xz", "")
    archive.write_bytes(data)
    refused(["data", "summary", "--data", str(archive)], capsys, tmp_path,
            "bad.tar.xz: not a readable .tar.xz archive")


# --- the wrong kind of path for the format (item 8) ----------------------------------------------------

@pytest.mark.parametrize("path, fmt, message", [
    ("data", "wisdm", "data: is a folder; --format wisdm reads one file"),
    ("data/a.csv", "hapt", "a.csv: is not a HAPT folder or .tar.xz archive (--format hapt)"),
    ("data", "pamap2", "data: no .dat files: empty dataset for --format pamap2"),
    ("nope", "csv", "nope: does not exist (--data)"),
])
def test_wrong_kind_of_path_for_the_format(folder, capsys, tmp_path, path, fmt, message):
    refused(["data", "summary", "--data", str(tmp_path / path), "--format", fmt], capsys, tmp_path, message)


@pytest.mark.parametrize("fmt", ["csv", "wisdm", "pamap2"])
def test_a_pipe_is_refused_before_reading(tmp_path, capsys, fmt):
    os.mkfifo(tmp_path / "pipe")
    refused(["data", "summary", "--data", str(tmp_path / "pipe"), "--format", fmt], capsys, tmp_path,
            "pipe: is not a regular file or folder")


def test_binary_file_as_csv(folder, capsys, tmp_path):
    (folder / "b.csv").write_bytes(HEADER.encode() + b"0,1,\xff\xfe,walk\n")
    refused(summary(folder), capsys, tmp_path, "b.csv, line 2: not UTF-8 text (byte 0xff)")


# --- subjects (items 8, 11) ------------------------------------------------------------------------------

def test_same_subject_in_test_and_validation(folder, capsys, tmp_path):
    argv = summary(folder)
    argv[argv.index("--validation-subjects") + 1] = "c,d"
    refused(argv, capsys, tmp_path, "subject d is in both test_subjects and validation_subjects")


@pytest.mark.parametrize("option, subjects, message", [
    ("--test-subjects", "15", "test_subjects (--test-subjects) names 15, not among the subjects found: a b c d"),
    ("--test-subjects", "d,15", "test_subjects (--test-subjects) names 15, not among the subjects found: a b c d"),
    ("--validation-subjects", "zz", "validation_subjects (--validation-subjects) names zz, not among"),
])
def test_unknown_subject_is_named(folder, capsys, tmp_path, option, subjects, message):
    argv = summary(folder)
    argv[argv.index(option) + 1] = subjects
    refused(argv, capsys, tmp_path, message)


def test_named_subject_without_windows(folder, capsys, tmp_path):
    write(folder / "c.csv", HEADER + rows(10))
    refused(summary(folder), capsys, tmp_path, "validation_subjects (--validation-subjects) names c, whose windows")


def test_unknown_class(folder, capsys, tmp_path):
    refused(summary(folder, "--classes", "walk,jog"), capsys, tmp_path, "class 'jog' (--classes) not in the labels")


# --- window, stride and config values (item 8) ----------------------------------------------------------

@pytest.mark.parametrize("option, value, message", [
    ("--window", "infs", "window (--window): 'infs' is not a positive number"),
    ("--window", "-1", "window (--window): '-1' is not a positive number"),
    ("--window", "0", "window (--window): '0' is not a positive number"),
    ("--window", "1_28", "window (--window): '1_28' is not a positive number"),  # int() reads 128
    ("--window", "0.1s", "window (--window): '0.1s' is 5 samples at 50 Hz; at least 8 needed"),
    ("--stride", "0s", "stride (--stride): '0s' is not a positive number"),
    ("--resample-hz", "nan", "[data] resample_hz = nan: must be a finite number"),
    ("--resample-hz", "-50", "[data] resample_hz = -50.0: must be above 0"),
    ("--stride", "9" * 23, "stride (--stride): '99999999999999999999999' is 99,999,"),  # was numpy's unnamed size error
    ("--resample-hz", "50", "b.csv: subject b: 1e+13 ms at 50 Hz (--resample-hz) would be 500,000,000,001 samples"),
    ("--data", "1e300", "b.csv, line 101, field 'timestamp_ms': timestamp 1e+300 is not a number of milliseconds"),
])
def test_bad_window_stride_and_rate(folder, capsys, tmp_path, option, value, message):
    """A recording's last timestamp at 1e13 ms: resampled, a memory error's traceback; at 1e300, overflow."""
    if value in ("50", "1e300"):
        write(folder / "b.csv", HEADER + rows(99) + f"{1e13 if value == '50' else value},1,1,sit\n")
    refused(summary(folder, option, value) if option != "--data" else summary(folder), capsys, tmp_path, message)


@pytest.mark.parametrize("line, message", [
    ("min_purity = 2", "[data] min_purity = 2: must be above 0 and at most 1"),
    ("min_purity = 0", "[data] min_purity = 0: must be above 0 and at most 1"),
    ('seed = "x"', "[data] seed = 'x': expected int"),
    ('classes = "walk"', "[data] classes = 'walk': expected list[str] | None"),
    ("skip_bad_rows = 1", "[data] skip_bad_rows = 1: expected bool"),
    ("window = 2.5", "[data] window = 2.5: expected int | str"),
    ("colour = 1", "[data] has unknown keys ['colour']"),
])
def test_bad_config_values(folder, capsys, tmp_path, line, message):
    config = write(tmp_path / "c.toml", f"[data]\n{line}\n")
    argv = summary(folder, "--config", str(config))
    refused([a for a in argv if a not in ("--window", "20")] if "window" in line else argv, capsys, tmp_path, message)


def test_set_without_a_section(folder, capsys, tmp_path):
    refused(["train", "--data", str(folder), "--format", "csv", "--set", "batch_size=0"], capsys, tmp_path,
            "--set expects SECTION.KEY=VALUE", "'batch_size=0'")


# --- CSV files as spreadsheets write them (item 11) ------------------------------------------------------

def test_excel_bom_and_semicolons_are_read(folder, capsys, tmp_path):
    body = rows().replace(",", ";").replace(";1;", ";1,5;")
    write(folder / "b.csv", "\ufeff" + HEADER.replace(",", ";") + body)
    status, out, _ = run(summary(folder), capsys, tmp_path)
    assert status == 0 and "4 recordings" in out


def test_tab_separated_file_is_refused_with_the_reason(folder, capsys, tmp_path):
    write(folder / "b.csv", HEADER.replace(",", "\t") + rows().replace(",", "\t"))
    refused(summary(folder), capsys, tmp_path, "b.csv, line 1: header has no 'timestamp_ms' column", "not tabs")


def test_label_in_one_file_only_is_a_warning(folder, capsys, tmp_path):
    write(folder / "b.csv", HEADER + rows().replace("sit", "sitt"))
    status, out, err = run(summary(folder, "--classes", "walk,sit"), capsys, tmp_path)
    assert status == 0 and "label 'sitt' appears only in" in err and "b.csv" in err and "warning: label 'sitt'" in out


@pytest.mark.parametrize("header, message", [
    ("timestamp_ms,ax,ax,activity\n", "header names ['ax'] more than once"),
    ("0,1,1,walk\n", "the first line is not a header of column names"),
])
def test_bad_header(folder, capsys, tmp_path, header, message):
    write(folder / "b.csv", header + rows())
    refused(summary(folder), capsys, tmp_path, "b.csv, line 1", message)


def test_field_beyond_the_csv_limit(folder, capsys, tmp_path):
    write(folder / "b.csv", HEADER + '0,1,1,"' + "x" * 200_000 + '"\n')
    refused(summary(folder), capsys, tmp_path, "b.csv, line 2: unreadable CSV: field larger than field limit")
