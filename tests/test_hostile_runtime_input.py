"""The Pi runtime against hostile input lines, values and options: survived and counted, or refused with exit 2."""

import pytest
from hostile_runtime import (  # noqa: F401 (fixtures are used as arguments)
    ROWS, baseline, csv_bytes, in_process, model_path, refused, rows, run_cli, same_as_baseline, work,
)

# --- item 5: no input line ends the runtime -------------------------------------------------------------

BANNERS = {
    "sensor banner": b"MPU6050 ready",
    "sketch comment": b"# IMU not found",
    "half line after reset": b"3,0.01,0.",
    "NUL": b"\x00",
    "NULs in numbers": b"20\x00,1,2,3,4,5,6",
    "header without the channels": b"timestamp_ms,ax,ay,az",
    "semicolons": b"timestamp_ms;acc_x;acc_y;acc_z;gyro_x;gyro_y;gyro_z",
    "not UTF-8": b"\xff\xfe\xfd",
    "overlong": b"9" * 5000,
    "commas only": b",,,,,,",
    "NaN": b"20,nan,0,0,0,0,0",
    "inf": b"20,0,0,-inf,0,0,0",
    "banner naming a channel in another unit": b"acc_x[mg] calibration done",  # had stopped it for good
    "header of some channels in another unit": b"acc_x[mg],acc_y[mg]",
}


@pytest.mark.parametrize("line", BANNERS.values(), ids=BANNERS.keys())
@pytest.mark.parametrize("where", ["first", "middle"])
def test_a_hostile_line_is_skipped_and_counted(in_process, baseline, line, where):
    clean = csv_bytes(rows()).splitlines(keepends=True)
    at = 0 if where == "first" else 200
    status, predictions, summary, err = in_process(b"".join(clean[:at] + [line + b"\n"] + clean[at:]))
    assert status == 0 and same_as_baseline(predictions, baseline)
    assert sum(summary["skipped"].values()) == 1 and summary["samples"] == ROWS
    line_number = at + 1
    assert f"line {line_number} skipped (" in err  # the first lines of each reason are logged: a wrong layout shows


VALUES = {"1e308": "1e308", "beyond float32": "3.5e38", "beyond a sensor": "-2e6"}


@pytest.mark.parametrize("value", VALUES.values(), ids=VALUES.keys())
def test_values_beyond_a_sensors_range_are_skipped(in_process, baseline, value):
    lines = rows()
    lines[150] = lines[150].replace(",0.2,", f",{value},")
    status, predictions, summary, _ = in_process(csv_bytes(lines))
    # the sample is missing: the window slides over it, so only the count of skips is certain
    assert status == 0 and summary["skipped"] == {"value beyond +-1e+06": 1} and summary["samples"] == ROWS - 1
    assert all(0 <= p["window_confidence"] <= 1 for p in predictions)


def test_a_huge_timestamp_is_skipped(in_process, baseline):
    lines = rows()
    lines.insert(200, "1e300,0,0,1,0,0,0")
    status, predictions, summary, _ = in_process(csv_bytes(lines))
    assert status == 0 and same_as_baseline(predictions, baseline)
    assert summary["skipped"] == {"timestamp beyond +-1e+15 ms": 1}


@pytest.mark.parametrize("ending", ["\r", "\r\n"], ids=["CR only", "CR LF"])
def test_cr_and_crlf_line_endings_are_line_endings(in_process, baseline, ending):
    status, predictions, summary, _ = in_process(csv_bytes(rows(), ending))
    assert status == 0 and same_as_baseline(predictions, baseline) and summary["skipped"] == {}


def test_a_header_in_another_order_with_a_bom_maps_the_columns(in_process, baseline):
    order = [0, 4, 5, 6, 1, 2, 3, 7]  # timestamp, gyro, acc, then an extra column
    header = "\ufefftimestamp_ms,gyro_x[rad/s],gyro_y,gyro_z,acc_x[g],acc_y,acc_z,temp"
    lines = [",".join((line + ",36.6").split(",")[i] for i in order) for line in rows()]
    status, predictions, summary, _ = in_process(b"MPU6050 ready\n" + csv_bytes([header, *lines]))
    assert status == 0 and same_as_baseline(predictions, baseline)
    assert summary["header_lines"] == 1 and sum(summary["skipped"].values()) == 1


def test_no_sample_at_all_is_survived_and_explained(in_process):
    status, predictions, summary, err = in_process(b"hello\n1,2,3\n" * 50)
    assert status == 0 and predictions == [] and summary["lines_read"] == 100
    assert "no line was a sample" in err and "--columns" in err


# --- item 8: options, files and outputs refused with a message ------------------------------------------

BAD_OPTIONS = {  # the error line itself: argparse's usage text names every option, whatever was refused
    "votes 0": (["--votes", "0"], "--smoothing vote: votes must be a whole number of windows in 1-1000, not 0"),
    "ema-alpha 0": (["--smoothing", "ema", "--ema-alpha", "0"], "--smoothing ema: EMA alpha must be a number in (0, 1], not 0.0"),
    "ema-alpha inf": (["--smoothing", "ema", "--ema-alpha", "inf"], "argument --ema-alpha: 'inf' is not a finite number"),
    "hysteresis nan": (["--smoothing", "ema", "--hysteresis", "nan"], "argument --hysteresis: 'nan' is not a finite number"),
    "threads 0": (["--threads", "0"], "argument --threads: 0 is out of range; give a value in (0, 64]"),
    "max-gap-ms 0": (["--max-gap-ms", "0"], "argument --max-gap-ms: 0 is out of range; give a value in (0, 1e+09]"),
    "baud -1": (["--baud", "-1"], "argument --baud: -1 is out of range; give a value in (0, 1e+08]"),
    "baud beyond a C int": (["--baud", "99999999999"], "argument --baud: 99999999999 is out of range; give a value in (0, 1e+08]"),
    "threads beyond any float": (["--threads", "1" + "0" * 400], "is out of range; give a value in (0, 64]"),  # OverflowError
    "columns lack channels": (["--columns", "timestamp_ms,a,b"], "--columns: the columns ['timestamp_ms', 'a', 'b'] lack"),
    "columns repeat a channel": (["--columns", "acc_x,acc_x,acc_y,acc_z,gyro_x,gyro_y,gyro_z"],
                                 "--columns: the columns name ['acc_x'] more than once"),
}


@pytest.mark.parametrize("options,word", BAD_OPTIONS.values(), ids=BAD_OPTIONS.keys())
def test_bad_options_are_refused(work, model_path, options, word):
    refused(run_cli(["--model", str(model_path), "--stdin", *options], work), word)


def test_a_number_with_an_underscore_is_a_garbled_line(in_process, baseline):
    """Python's float() reads `3_990` as 3990: a garbled line would have passed as a sample."""
    lines = rows()
    lines.insert(200, "3_990,0_5,0,1,0,0,0")
    status, predictions, summary, _ = in_process(csv_bytes(lines))
    assert status == 0 and same_as_baseline(predictions, baseline)
    assert summary["skipped"] == {"not a number": 1} and summary["samples"] == ROWS
