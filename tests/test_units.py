"""Data in seconds and units declared: windows as durations at each dataset's rate, units declared for
headers without them, checked across files, shown in the summary, and checked again by the Pi runtime."""
import json
import signal

import pytest
from conftest import REPO, write

from device_runtime.cli import main as runtime_main
from device_runtime.line_parser import same_unit, unit_mismatch
from har import main
from train.config import length, load_config
from train.data.dataset import DataConfig, prepare
from train.data.recording import DataError
from train.data.summary import format_summary
from train.data.units import declared_unit, parse_units

CHANNELS = ["acc_x", "acc_y", "gyro_x"]


def dataset(folder, rate_hz=50, header=None, subjects="abcde", seconds=8):
    """A CSV dataset, one file per subject: walk then sit, at `rate_hz`."""
    header = header or "timestamp_ms," + ",".join(CHANNELS) + ",activity\n"
    n = int(seconds * rate_hz)
    for subject in subjects:
        body = "".join(f"{i * 1000 / rate_hz:g},{i % 7},1,{i % 3},{'walk' if i < n // 2 else 'sit'}\n"
                       for i in range(n))
        write(folder / f"{subject}.csv", header + body)
    return folder


def summary(folder, capsys, *options):
    """`har data summary` on a CSV folder: (status, stdout, stderr)."""
    status = main(["data", "summary", "--data", str(folder), "--format", "csv", "--test-subjects", "e", *options])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return status, out, err


# --- windows are durations, converted at the data's rate ------------------------------------------------

@pytest.mark.parametrize("rate, window, stride", [(50, 128, 64), (100, 256, 128)])
def test_default_durations_convert_at_the_rate(tmp_path, rate, window, stride):
    assert (length("2.56s", "window", rate), length("1.28s", "stride", rate)) == (window, stride)
    config = DataConfig(path=str(dataset(tmp_path, rate)), format="csv")
    assert (config.window, config.stride) == ("2.56s", "1.28s")
    contract = prepare(config).contract
    assert (contract.window, contract.stride, contract.sample_rate_hz) == (window, stride, rate)


def test_the_default_config_file_gives_durations():
    data = DataConfig.from_dict(load_config(REPO / "configs" / "default.toml")["data"])
    assert (data.window, data.stride) == ("2.56s", "1.28s")


def test_hapt_summary_shows_seconds_units_and_the_split_rule(hapt_prepared):
    text = format_summary(hapt_prepared.summary)
    assert "window 128 samples (2.56 s), stride 64 samples (1.28 s)" in text
    assert "channels: acc_x [g], acc_y [g], acc_z [g], gyro_x [rad/s], gyro_y [rad/s], gyro_z [rad/s]" in text
    assert "subjects chosen: UCI HAR's test users, the HAPT default" in text
    assert "subjects chosen: HAPT's default validation subjects" in text
    assert "no unit given" not in text


def test_summary_of_other_data_says_how_subjects_were_chosen(tmp_path, capsys):
    status, out, _ = summary(dataset(tmp_path, 100), capsys, "--json")
    splits = json.loads(out)["splits"]
    assert status == 0 and splits["test"]["chosen"] == "given (--test-subjects or [data] test_subjects)"
    assert splits["validation"]["chosen"] == "15% of the subjects not in test, drawn at random with [data] seed 0"
    status, out, _ = summary(tmp_path, capsys)
    assert "window 256 samples (2.56 s), stride 128 samples (1.28 s)" in out
    assert "channels: acc_x, acc_y, gyro_x" in out and "no unit given for some channels" in out


# --- units declared for headers without them ------------------------------------------------------------

def test_parse_and_resolve_declarations():
    declared = parse_units(" gyro=deg/s, acc=g ,acc_y=m/s^2")
    assert declared == {"gyro": "deg/s", "acc": "g", "acc_y": "m/s^2"}
    assert [declared_unit(c, declared) for c in ["acc_x", "acc_y", "gyro_x", "gyroscope", "temp"]] == [
        "g", "m/s^2", "deg/s", "", ""]
    with pytest.raises(ValueError, match="--units: 'gyro' is not NAME=UNIT"):
        parse_units("gyro")
    with pytest.raises(ValueError, match="--units: ax is declared twice, as g and m/s"):
        parse_units("ax=g,ax=m/s^2")  # the last one was kept, silently
    assert parse_units("ax=g,ax=g") == {"ax": "g"}


def test_units_option_reaches_summary_and_contract(tmp_path, capsys):
    status, out, err = summary(dataset(tmp_path), capsys, "--units", "gyro=deg/s,acc=g", "--json")
    assert status == 0 and json.loads(out)["units"] == {"acc_x": "g", "acc_y": "g", "gyro_x": "deg/s"}
    assert "warning" not in err
    contract = prepare(DataConfig(path=str(tmp_path), format="csv", units={"acc": "g", "gyro_x": "rad/s"})).contract
    assert contract.units == ["g", "g", "rad/s"]


def test_units_in_the_config_file(tmp_path, capsys):
    write(tmp_path / "run.toml", '[data]\nunits = { gyro = "deg/s", acc_x = "g", acc_y = "g" }\n')
    status, out, _ = summary(dataset(tmp_path / "data"), capsys, "--config", str(tmp_path / "run.toml"))
    assert status == 0 and "channels: acc_x [g], acc_y [g], gyro_x [deg/s]" in out


def test_a_declaration_that_disagrees_with_the_header_is_refused(tmp_path, capsys):
    dataset(tmp_path, header="timestamp_ms,acc_x[g],acc_y[g],gyro_x,activity\n")
    status, _, err = summary(tmp_path, capsys, "--units", "acc=m/s^2,gyro=rad/s")
    assert status == 2 and "a.csv: channel acc_x is in g in this file but units (--units) declares m/s^2" in err
    status, out, _ = summary(tmp_path, capsys, "--units", "acc=g,gyro=rad/s")  # agreeing is fine
    assert status == 0 and "gyro_x [rad/s]" in out


def test_mixed_units_across_files_are_refused_naming_both(tmp_path, capsys):
    dataset(tmp_path, header="timestamp_ms,acc_x[g],acc_y[g],gyro_x[rad/s],activity\n", subjects="abcd")
    dataset(tmp_path, header="timestamp_ms,acc_x[g],acc_y[g],gyro_x[deg/s],activity\n", subjects="e")
    status, _, err = summary(tmp_path, capsys)
    assert status == 2 and "e.csv: channel gyro_x is in deg/s here but in rad/s in" in err and "a.csv" in err
    dataset(tmp_path, header="timestamp_ms,acc_x[g],acc_y[g],gyro_x,activity\n", subjects="e")
    status, _, err = summary(tmp_path, capsys)
    assert status == 2 and "e.csv: channel gyro_x is in no unit here but in rad/s in" in err
    status, _, _ = summary(tmp_path, capsys, "--units", "gyro=rad/s")  # declared where missing: consistent
    assert status == 0


def test_a_model_is_not_evaluated_on_data_in_other_units(tmp_path):
    config = DataConfig(path=str(dataset(tmp_path)), format="csv", units={"acc": "g", "gyro": "rad/s"})
    contract = prepare(config).contract
    with pytest.raises(DataError, match="the input gives gyro_x in deg/s, the model takes gyro_x in rad/s"):
        prepare(DataConfig(path=str(tmp_path), format="csv", units={"gyro": "deg/s"}), contract=contract)
    prepare(DataConfig(path=str(tmp_path), format="csv"), contract=contract)  # no units given: taken on trust


def test_unknown_unit_is_kept_with_a_warning(tmp_path, capsys):
    status, out, err = summary(dataset(tmp_path), capsys, "--units", "acc=g,gyro=furlong/s")
    assert status == 0 and "gyro_x [furlong/s]" in out
    assert "warning: unit 'furlong/s' (channels gyro_x) is not one of the known units" in err


@pytest.mark.parametrize("option, message", [
    ("magnet=uT", "units (--units) names ['magnet'], which is no channel or channel prefix"),
    ("acc", "--units: 'acc' is not NAME=UNIT"),
])
def test_bad_declarations_are_refused(tmp_path, capsys, option, message):
    status, _, err = summary(dataset(tmp_path), capsys, "--units", option)
    assert status == 2 and message in err and "\n" not in err.strip()


# --- the Pi runtime checks a stream's header units against the model's -------------------------------------

def test_unit_agreement_rule():
    assert same_unit("dps", "deg/s") and same_unit("m/s2", "m/s^2") and not same_unit("deg/s", "rad/s")
    given = {"timestamp_ms": "", "acc_x": "g", "gyro_x": "deg/s"}
    problem = unit_mismatch(given, ["acc_x", "gyro_x"], ["g", "rad/s"])
    assert "the input gives gyro_x in deg/s, the model takes gyro_x in rad/s" in problem
    assert unit_mismatch(given, ["acc_x", "gyro_x"], ["g", ""]) is None  # a model without units: nothing to check
    assert unit_mismatch({"acc_x": "", "gyro_x": ""}, ["acc_x", "gyro_x"], ["g", "rad/s"]) is None


@pytest.fixture
def runtime(tiny_model):
    """`python -m device_runtime --model TINY ARGS` in-process; the signal handlers it installs are undone."""
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    yield lambda *args: runtime_main(["--model", str(tiny_model), *map(str, args)])
    for number, handler in handlers.items():
        signal.signal(number, handler)


RUNTIME_HEADER = "timestamp_ms,acc_x{a},acc_y,acc_z,gyro_x{g},gyro_y,gyro_z\n"
SAMPLES = "".join(f"{i * 20},{0.1 * (i % 7)},0.2,0.9,{0.01 * (i % 5)},0,0\n" for i in range(200))


@pytest.mark.parametrize("acc, gyro, status", [
    ("[g]", "[rad/s]", 0), ("", "", 0), ("[g]", "[deg/s]", 2), ("[m/s^2]", "", 2),
])
def test_runtime_refuses_a_header_in_other_units(runtime, tmp_path, capsys, acc, gyro, status):
    replay = write(tmp_path / "replay.csv", RUNTIME_HEADER.format(a=acc, g=gyro) + SAMPLES)
    assert runtime("--replay", replay) == status
    out, err = capsys.readouterr()
    if status == 0:
        assert len(out.splitlines()) == 2 and '"header_lines": 1' in err
        return
    channel, unit, model_unit = ("gyro_x", "deg/s", "rad/s") if gyro else ("acc_x", "m/s^2", "g")
    assert f"error: line 1: the input gives {channel} in {unit}, the model takes {channel} in {model_unit}" in err
    assert out == "" and "no line was a sample" not in err


def test_runtime_refuses_columns_in_other_units(runtime, tmp_path, capsys):
    replay = write(tmp_path / "replay.csv", SAMPLES)
    columns = "timestamp_ms,acc_x[g],acc_y,acc_z,gyro_x[dps],gyro_y,gyro_z"
    assert runtime("--replay", replay, "--columns", columns) == 2
    assert "--columns: the input gives gyro_x in dps, the model takes gyro_x in rad/s" in capsys.readouterr().err
    assert runtime("--replay", replay, "--columns", columns.replace("dps", "rad/s")) == 0
