"""WISDM v1.1 raw and PAMAP2 protocol files, on fixtures written to the published layouts."""
import numpy as np
import pytest
from conftest import write

from train.data.pamap2 import N_COLUMNS, load_pamap2
from train.data.wisdm import load_wisdm
from train.data.recording import DataError


def test_wisdm_with_its_known_defects(tmp_path):
    text = (
        "33,Jogging,49105962326000,-0.6946377,12.680544,0.50395286;\n"
        "33,Jogging,49106062271000,5.012288,11.264028,0.95342433;\n"
        "\n"
        "33,Jogging,49106112167000,4.903325,10.882569,-0.08172209;33,Jogging,49106162365000,-0.61291564,18.496431,3.0237172;\n"
        "33,Jogging,49106212374000,-1.1849703,12.108489,;\n"  # missing z
        "33,Jogging,0,-1.2,12.1,7.2;\n"  # zero timestamp
        "17,Walking,57869902574000,0.08173,-0.23154,9.49343;\n"
        "17,Walking,57869952620000,0.10215,-0.23154,9.53429,\n"  # trailing comma, no semicolon
    )
    recordings, report = load_wisdm(write(tmp_path / "WISDM_ar_v1.1_raw.txt", text))
    assert [(r.subject, len(r.samples)) for r in recordings] == [("33", 4), ("17", 2)]
    assert recordings[0].label_names == ("Jogging",)
    np.testing.assert_allclose(recordings[0].samples[3], [-0.61291564, 18.496431, 3.0237172], rtol=1e-6)
    assert report.rows_read == 6
    assert report.rows_skipped == {"blank line": 1, "5 fields instead of 6": 1, "zero timestamp": 1}
    assert any("line 5" in e for e in report.examples)


def test_wisdm_stream_is_cut_at_timestamp_jumps(tmp_path):
    text = "".join(f"7,Sitting,{1_000_000_000 + i * 50_000_000},0,0,9.8;\n" for i in range(4))
    text += "".join(f"7,Sitting,{500_000_000 + i * 50_000_000},0,0,9.8;\n" for i in range(3))  # clock went back
    recordings, _ = load_wisdm(write(tmp_path / "w.txt", text))
    assert [len(r.samples) for r in recordings] == [4, 3]


def test_wisdm_empty(tmp_path):
    with pytest.raises(DataError, match="no valid records"):
        load_wisdm(write(tmp_path / "w.txt", "\n\n"))
    isolated = "1,Walking,1000000000,1,2,3;\n1,Walking,9000000000,1,2,3;\n2,Walking,1000000000,1,2,3;\n"
    with pytest.raises(DataError, match="w.txt: no continuous stream of at least 2 records"):  # had been max() of []
        load_wisdm(write(tmp_path / "w.txt", isolated))


def pamap_row(t, activity, value=1.0, nan_cols=()):
    row = [t, activity, 100.0] + [value] * (N_COLUMNS - 3)
    for c in nan_cols:
        row[c] = float("nan")
    return " ".join("NaN" if np.isnan(v) else f"{v:g}" for v in row)


def test_pamap2_columns_transients_and_gaps(tmp_path):
    lines = [pamap_row(8.38 + i * 0.01, 0 if i < 2 else 4, value=i) for i in range(40)]
    lines[5] = pamap_row(8.43, 4, value=5, nan_cols=(2, 4))  # heart rate NaN is ignored; hand acc_x gap of 1
    for i in range(20, 35):  # a long gap on the chest gyro
        lines[i] = pamap_row(8.38 + i * 0.01, 4, value=i, nan_cols=(27,))
    (rec,), report = load_pamap2(write(tmp_path / "Protocol/subject105.dat", "\n".join(lines) + "\n").parent)
    assert rec.subject == "105" and rec.sample_rate_hz == 100
    assert len(rec.channels) == 27 and rec.channels[0] == "hand_acc_x" and rec.units[-1] == "uT"
    assert rec.labels[:2].tolist() == [-1, -1] and rec.label_names[rec.labels[2]] == "walking"
    assert rec.samples[5, 0] == pytest.approx(5.0)  # interpolated between 4 and 6
    gyro = rec.channels.index("chest_gyro_x")
    assert np.isnan(rec.samples[20:35, gyro]).all()
    assert report.rows_skipped == {"NaN samples interpolated (short gap)": 1, "NaN samples left missing (long gap)": 15}


@pytest.mark.parametrize(
    "bad, message",
    [
        (lambda: " ".join(["1"] * 53), r"line 2: 53 fields, expected 54"),
        (lambda: pamap_row(8.39, 8), r"line 2, field 'activityID': unknown activity id 8"),
        (lambda: pamap_row(8.39, 1e300), r"line 2, field 'activityID': unknown activity id 1e\+300"),  # no int64
        (lambda: pamap_row(8.38, 4), r"line 2, field 'timestamp': timestamp is not after"),
        (lambda: pamap_row(8.39, 4).replace("100", "x", 1), r"line 2, field 'column 3': 'x' is not a number"),
    ],
)
def test_pamap2_broken_files(tmp_path, bad, message):
    path = write(tmp_path / "subject101.dat", "\n".join([pamap_row(8.38, 4), bad(), pamap_row(8.40, 4)]) + "\n")
    with pytest.raises(DataError, match=message):
        load_pamap2(path)
