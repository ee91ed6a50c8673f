"""The generic CSV format, on exact fixtures, broken variants included."""
import re

import numpy as np
import pytest
from conftest import write

from train.data.dataset import DataConfig, prepare
from train.data.csv_files import load_csv_file, load_csv_folder
from train.data.recording import DataError

HEADER = "timestamp_ms,acc_x[g],acc_y[g],acc_z[g],activity\n"


def rows(n, start_ms=0, step_ms=20, activity="walk"):
    return "".join(f"{start_ms + i * step_ms},{i},{-i},0.5,{activity}\n" for i in range(n))


def test_reads_channels_units_rate_and_unlabelled(tmp_path):
    path = write(tmp_path / "alice.csv", HEADER + rows(3) + "60,1,1,1,\n" + rows(2, 80, activity="sit"))
    (rec,), report = load_csv_file(path)
    assert rec.subject == "alice"
    assert rec.channels == ("acc_x", "acc_y", "acc_z") and rec.units == ("g", "g", "g")
    assert rec.sample_rate_hz == pytest.approx(50.0)
    assert rec.label_names == ("walk", "sit")
    assert rec.labels.tolist() == [0, 0, 0, -1, 1, 1]
    np.testing.assert_array_equal(rec.samples[:3, 0], [0, 1, 2])
    assert "50.00 Hz from timestamps, jitter 0.0%" in report.notes[0]


def test_jitter_is_reported(tmp_path):
    times = [0, 19, 41, 60, 80, 99]
    text = HEADER + "".join(f"{t},0,0,0,walk\n" for t in times)
    _, report = load_csv_file(write(tmp_path / "j.csv", text))
    assert "jitter" in report.notes[0] and "jitter 0.0%" not in report.notes[0]


def test_subject_column_splits_recordings(tmp_path):
    text = "timestamp_ms,x,y,activity,subject\n0,1,2,a,s1\n20,1,2,a,s1\n0,3,4,b,s2\n20,3,4,b,s2\n"
    recs, _ = load_csv_file(write(tmp_path / "two.csv", text))
    assert [r.subject for r in recs] == ["s1", "s2"]


def test_non_monotonic_timestamps_name_the_line(tmp_path):
    path = write(tmp_path / "bad.csv", HEADER + "0,1,1,1,walk\n20,1,1,1,walk\n20,1,1,1,walk\n")
    with pytest.raises(DataError, match=r"bad.csv, line 4, field 'timestamp_ms': timestamp 20 ms is not after"):
        load_csv_file(path)


NOT_FINITE = "value not finite as float32 (inf, NaN or beyond +-3.4e38)"


@pytest.mark.parametrize(
    "row, message, reason",
    [
        ("40,1,1,walk\n", r"line 4: 4 fields, expected 5", "malformed row"),
        ("40,1,x,1,walk\n", r"line 4, field 'acc_y\[g\]': 'x' is not a number", "malformed row"),
        ("40,1,1_0,1,walk\n", r"line 4, field 'acc_y\[g\]': '1_0' is not a number", "malformed row"),  # float(): 10
        ("40,1,inf,1,walk\n", r"line 4, field 'acc_y\[g\]': value inf is not finite as float32", NOT_FINITE),
        ("40,nan,1,1,walk\n", r"line 4, field 'acc_x\[g\]': value nan is not finite as float32", NOT_FINITE),
        ("40,1,1,-1e39,walk\n", r"line 4, field 'acc_z\[g\]': value -1e\+39 is not finite as float32", NOT_FINITE),
        ("40,1,1,1,wa\tlk\n", r"line 4, field 'activity': activity 'wa\\tlk': names must be one line", "malformed row"),
        ("40,1,1,1,\x1b[2Jsit\n", r"line 4, field 'activity': activity '\\x1b\[2Jsit': names must be one", "malformed row"),
    ],
)
def test_broken_rows_are_errors_or_counted_skips(tmp_path, row, message, reason):
    path = write(tmp_path / "broken.csv", HEADER + rows(2) + row + rows(2, 60))
    with pytest.raises(DataError, match=message):
        load_csv_file(path)
    (rec,), report = load_csv_file(path, skip_bad_rows=True)
    assert len(rec.samples) == 4 and np.isfinite(rec.samples).all()
    assert report.rows_skipped == {reason: 1}
    assert "line 4" in report.examples[0]


def test_names_that_would_break_a_report_line_or_a_terminal_are_refused(tmp_path):
    """A quoted newline would start a heading in report.md; a subject's name may come from the file name."""
    quoted = write(tmp_path / "quoted.csv", HEADER + rows(2) + '40,1,1,1,"walk\n# not a heading"\n')
    with pytest.raises(DataError, match=r"quoted.csv, line 5, field 'activity': activity 'walk\\n# not a heading'"):
        load_csv_file(quoted)
    named = write(tmp_path / "al\x1bice.csv", HEADER + rows(2))
    with pytest.raises(DataError, match=r"field 'subject': subject 'al\\x1bice': names must be one line"):
        load_csv_file(named)


@pytest.mark.parametrize("rename, message", [("W\x1b]0;title\x07", "no newline, tab or escape"),
                                             ("Q" * 70, "at most 64 characters")])
def test_a_rename_is_checked_as_a_label_is(rename, message):
    """A renamed class had reached the terminal with its escapes, or failed later without naming the option."""
    with pytest.raises(DataError, match=rf"\[data\] rename, field 'activity': .*{message}"):
        DataConfig.from_dict({"rename": {"WALKING": rename}})


def test_excel_bom_and_semicolons_with_decimal_commas(tmp_path):
    text = "\ufefftimestamp_ms;acc_x[g];activity\n0;1,5;walk\n20;-0,25;walk\n"
    (rec,), _ = load_csv_file(write(tmp_path / "excel.csv", text))
    assert rec.channels == ("acc_x",) and rec.units == ("g",)
    np.testing.assert_allclose(rec.samples[:, 0], [1.5, -0.25])


def test_a_label_in_one_file_only_is_a_warning(tmp_path):
    for name, label in (("a", "walk"), ("b", "walk"), ("c", "wlak")):
        write(tmp_path / f"{name}.csv", HEADER + rows(3, activity=label))
    _, report = load_csv_folder(tmp_path)
    assert len(report.warnings) == 1 and "'wlak' appears only in" in report.warnings[0] and "c.csv" in report.warnings[0]


def test_missing_columns_and_empty_files(tmp_path):
    with pytest.raises(DataError, match="header has no 'activity' column"):
        load_csv_file(write(tmp_path / "a.csv", "timestamp_ms,x\n0,1\n"))
    with pytest.raises(DataError, match="empty file"):
        load_csv_file(write(tmp_path / "b.csv", ""))
    with pytest.raises(DataError, match="no data rows"):
        load_csv_file(write(tmp_path / "c.csv", HEADER))
    with pytest.raises(DataError, match="no .csv files: empty dataset"):
        (tmp_path / "nothing").mkdir()
        load_csv_folder(tmp_path / "nothing")


def test_resampling_to_a_target_rate(tmp_path):
    text = HEADER + "".join(f"{i * 10},{i},0,0,{'walk' if i < 6 else 'sit'}\n" for i in range(11))  # 100 Hz
    (rec,), _ = load_csv_file(write(tmp_path / "r.csv", text), resample_hz=50)
    assert rec.sample_rate_hz == 50
    np.testing.assert_allclose(rec.samples[:, 0], [0, 2, 4, 6, 8, 10])
    assert [rec.label_names[i] for i in rec.labels] == ["walk"] * 3 + ["sit"] * 3


def test_resampling_keeps_the_last_sample_at_epoch_millisecond_timestamps(tmp_path):
    """At 1.7e12 ms the grid's old 1e-9 ms of slack was below float64's step: the last sample was lost."""
    text = HEADER + "".join(f"{1_700_000_000_000 + i * 20},{i},0,0,walk\n" for i in range(5))
    (rec,), _ = load_csv_file(write(tmp_path / "r.csv", text), resample_hz=50)
    np.testing.assert_allclose(rec.samples[:, 0], [0, 1, 2, 3, 4])


@pytest.mark.parametrize("text, message", [
    ("timestamp_ms,acc_x,activity,subject\n0,1,walk,s1\n20,1,walk,\n", r"r.csv, line 3, field 'subject'.*empty"),
    ("timestamp_ms,acc_x,activity\n0,1,walk\n5e-324,1,walk\n1e-323,1,walk\n", r"above 100000 Hz: are they in milli"),
])
def test_an_empty_subject_or_an_impossible_rate_is_refused(tmp_path, text, message):
    """An empty subject had pooled its rows into a subject '' that --test-subjects cannot name; rows a hair
    apart had made an infinite rate and an OverflowError."""
    with pytest.raises(DataError, match=message):
        load_csv_file(write(tmp_path / "r.csv", text))


def test_a_rename_of_a_label_the_data_lacks_is_refused(tmp_path):
    for subject in "abc":
        write(tmp_path / f"{subject}.csv", HEADER + rows(60) + rows(60, 1200, activity="sit"))
    with pytest.raises(DataError, match=r"rename names \['stnad'\], not among the labels found"):
        prepare(DataConfig(path=str(tmp_path), format="csv", window=20, stride=10, rename={"stnad": "stand"}))


def test_one_subject_is_not_enough_and_says_so(tmp_path):
    write(tmp_path / "ann.csv", HEADER + rows(60) + rows(60, 1200, activity="sit"))
    with pytest.raises(DataError, match=r"the train split has no subjects \(subjects with windows: ann\)"):
        prepare(DataConfig(path=str(tmp_path), format="csv", window=20, stride=10))  # numpy's message had leaked


def test_a_folder_prepares_into_subject_splits(tmp_path):
    rng = np.random.default_rng(0)
    for subject in ["ann", "bob", "cid", "dan", "eve"]:
        lines = [f"{i * 20},{rng.normal()},{rng.normal()},{rng.normal()},{'walk' if i < 300 else 'sit'}" for i in range(600)]
        write(tmp_path / f"{subject}.csv", HEADER + "\n".join(lines) + "\n")
    prepared = prepare(DataConfig(path=str(tmp_path), format="csv", window="2s", stride="1s", test_subjects=["eve"]))
    assert prepared.contract.window == 100 and prepared.contract.stride == 50
    assert sorted(prepared.contract.class_names) == ["sit", "walk"]
    assert set(prepared.splits["test"].subjects) == {"eve"}
    assert len(prepared.splits["validation"]) > 0
    assert prepared.summary["sample_rates_hz"] == [50.0]


def test_posture_angle_is_the_tilt_between_two_classes_per_subject(tmp_path):
    from train.data.posture import format_posture, posture_angles
    tilts = {"ann": 30.0, "bob": 5.0, "cid": 12.0, "dan": 20.0, "eve": 8.0}  # degrees between sit and stand
    for subject, tilt in tilts.items():
        sit = (np.sin(np.radians(tilt)), 0.0, np.cos(np.radians(tilt)))
        lines = [f"{i * 20},{x},{y},{z},{activity}" for i in range(400)
                 for activity, (x, y, z) in [("sit" if i < 200 else "stand", sit if i < 200 else (0.0, 0.0, 1.0))]]
        write(tmp_path / f"{subject}.csv", HEADER + "\n".join(lines) + "\n")
    prepared = prepare(DataConfig(path=str(tmp_path), format="csv", window="1s", stride="1s", test_subjects=["eve"],
                                  validation_subjects=["dan"]))
    angles = posture_angles(prepared, ("sit", "stand"))
    assert angles["splits"]["train"]["degrees"] == pytest.approx({"ann": 30.0, "bob": 5.0, "cid": 12.0}, abs=0.05)
    assert angles["splits"]["train"]["median"] == pytest.approx(12.0, abs=0.05)
    assert angles["splits"]["train"]["min"] == pytest.approx(5.0, abs=0.05)
    assert angles["splits"]["test"]["degrees"] == pytest.approx({"eve": 8.0}, abs=0.05)
    assert "test: median 8, least 8" in format_posture(angles)
    from bench.report import _posture
    assert "| train | 12° | 5° (subject bob) | ann: 30, bob: 5, cid: 12 |" in _posture(angles)
    with pytest.raises(ValueError, match="walk is not a class"):
        posture_angles(prepared, ("sit", "walk"))


def test_no_validation_subjects_leaves_every_subject_outside_the_test_split_to_training(tmp_path):
    """`validation_subjects = []` (final_model "last" picks no epoch): no subject is held back for nothing."""
    from train.data.summary import format_summary

    for subject in "abcde":
        write(tmp_path / f"{subject}.csv", HEADER + rows(150) + rows(150, 3000, activity="sit"))
    options = dict(path=str(tmp_path), format="csv", window="1s", stride="1s", test_subjects=["e"])
    assert len(prepare(DataConfig(**options)).summary["splits"]["validation"]["subjects"]) == 1
    prepared = prepare(DataConfig(**options, validation_subjects=[]))
    assert prepared.summary["splits"]["train"]["subjects"] == ["a", "b", "c", "d"]
    assert len(prepared.splits["validation"]) == 0 and len(prepared.splits["test"]) == 6
    assert "validation: none (validation_subjects = []): every subject outside the test split trains" in \
        format_summary(prepared.summary)


def test_subjects_named_for_validation_are_never_drawn_for_test():
    """Only validation named: the test draw had taken a named validation subject, which then vanished from
    validation (or left it empty)."""
    from train.data.split import split_subjects

    subjects = ["s1", "s2", "s3", "s4", "s5"]
    for seed in range(20):
        splits = split_subjects(subjects, DataConfig(format="csv", validation_subjects=["s4", "s5"], seed=seed))
        assert splits["validation"] == ["s4", "s5"] and not set(splits["test"]) & {"s4", "s5"}


@pytest.mark.parametrize("option", [{"resample_hz": 25.0}, {"skip_bad_rows": True}, {"target_column": "speed"}])
def test_csv_only_options_on_another_format_are_refused(option):
    """They had been ignored without a word: --resample-hz 25 on HAPT trained at 50 Hz."""
    with pytest.raises(DataError, match=re.escape(f"{list(option)} read CSV data only, and the format is hapt")):
        prepare(DataConfig(**option))
