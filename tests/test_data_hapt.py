"""The HAPT loader and the default UCI HAR protocol, on the real recordings."""
import hashlib
import os
import shutil
import tarfile

import numpy as np
import pytest
from conftest import REPO, SHARED_HAPT, write

from train.data.dataset import DataConfig, prepare
from train.data.hapt import EMBEDDED_HAPT, load_hapt
from train.data.recording import DataError


def test_embedded_archive_is_the_full_dataset(hapt_loaded):
    recordings, report = hapt_loaded
    assert len(recordings) == 61
    assert len({r.subject for r in recordings}) == 30
    assert report.rows_read == 1_122_772
    assert "1214 labelled segments" in report.notes[0]
    assert all(r.samples.shape[1] == 6 and r.sample_rate_hz == 50 for r in recordings)


def test_embedded_files_match_their_checksums():
    with tarfile.open(EMBEDDED_HAPT, "r:xz") as archive:
        files = {m.name: archive.extractfile(m).read() for m in archive.getmembers() if m.isfile()}
    sums = dict(line.split()[::-1] for line in files["SHA256SUMS"].decode().splitlines() if line.strip())
    assert len(sums) == 123
    for name, digest in sums.items():
        assert hashlib.sha256(files["RawData/" + name.split("/")[-1]]).hexdigest() == digest, name


@pytest.mark.slow  # compares every file of both copies
@pytest.mark.skipif(not SHARED_HAPT.exists() and not os.environ.get("CI"),  # in CI: fails without it
                    reason="../shared/datasets/uci-hapt not beside the repository")
def test_embedded_copy_equals_the_shared_copy(hapt_loaded):
    embedded, _ = hapt_loaded
    shared, _ = load_hapt(SHARED_HAPT)
    for a, b in zip(embedded, shared):
        assert a.subject == b.subject
        np.testing.assert_array_equal(a.samples, b.samples)
        np.testing.assert_array_equal(a.labels, b.labels)


def test_default_split_reproduces_uci_har(hapt_prepared):
    splits = hapt_prepared.splits
    assert len(splits["train"]) + len(splits["validation"]) == pytest.approx(7400, abs=100)
    assert len(splits["test"]) == pytest.approx(3000, abs=50)
    assert sorted(set(splits["test"].subjects), key=int) == ["2", "4", "9", "10", "12", "13", "18", "20", "24"]
    subjects = [set(s.subjects) for s in splits.values()]
    assert not (subjects[0] & subjects[1] or subjects[0] & subjects[2] or subjects[1] & subjects[2])
    assert hapt_prepared.contract.class_names[0] == "WALKING" and len(hapt_prepared.contract.class_names) == 6
    assert splits["train"].x.shape[1:] == (128, 6)


def test_default_durations_give_hapts_windows_exactly(hapt_prepared):
    """2.56 s / 1.28 s at 50 Hz are the 128 / 64 samples every embedded figure was measured with."""
    assert (hapt_prepared.contract.window, hapt_prepared.contract.stride) == (128, 64)
    assert [len(split) for split in hapt_prepared.splits.values()] == [6_367, 1_048, 2_996]


def test_normalisation_is_fitted_on_training_windows_only(hapt_prepared):
    train = hapt_prepared.splits["train"].x.reshape(-1, 6)
    np.testing.assert_allclose(train.mean(axis=0), 0, atol=1e-3)
    np.testing.assert_allclose(train.std(axis=0), 1, atol=1e-3)
    test = hapt_prepared.splits["test"].x.reshape(-1, 6)
    assert np.abs(test.mean(axis=0)).max() > 1e-2  # other subjects, other statistics


def test_fine_motion_is_fitted_on_training_windows_and_named_by_sensor(hapt_loaded, hapt_prepared, capsys):
    prepared = prepare(DataConfig(fine_motion=["gyro"]), loaded=hapt_loaded)
    fine, plain = prepared.contract.fine_motion, hapt_prepared.contract
    assert fine["channels"] == ["gyro_x", "gyro_y", "gyro_z"] and fine["limit"] == 8.0
    raw = hapt_prepared.splits["train"].x[:, :, 3:] * np.float32(plain.norm_std[3:]) + np.float32(plain.norm_mean[3:])
    np.testing.assert_allclose(fine["scale"], np.percentile(raw.std(axis=1), 25, axis=0), rtol=1e-4)
    assert 0.005 < min(fine["scale"]) and max(fine["scale"]) < 0.02  # rad/s: a still window's sway
    train = prepared.splits["train"]
    np.testing.assert_array_equal(train.x[:, :, :6], hapt_prepared.splits["train"].x)  # the channels as before
    sitting, walking = (np.abs(train.x[train.y == k][:, :, 6:]).mean() for k in (3, 0))
    assert sitting < 2 and walking > 6  # still windows spread over the int8 range, walking at the clip
    from train.data.summary import format_summary
    assert "fine motion (model inputs after the channels, clipped at 8 of each scale): gyro_x scale 0.011 rad/s, " \
           "gyro_y scale 0.0138 rad/s" in format_summary(prepared.summary)
    with pytest.raises(ValueError, match=r"fine_motion: none of \['magnet'\] is a channel or a sensor prefix"):
        prepare(DataConfig(fine_motion=["magnet"]), loaded=hapt_loaded)
    acc_only = prepare(DataConfig(fine_motion=["gyro", "acc"], channels=["acc_x", "acc_y", "acc_z"]), loaded=hapt_loaded)
    assert acc_only.contract.fine_motion["channels"] == ["acc_x", "acc_y", "acc_z"]  # the default on an acc-only model
    assert "'gyro' is neither a channel nor a sensor prefix" in capsys.readouterr().err


def test_transitions_on_request(hapt_loaded):
    config = DataConfig(classes=["SIT_TO_STAND", "STAND_TO_SIT", "WALKING"], window=64, stride=32)
    prepared = prepare(config, loaded=hapt_loaded)
    assert prepared.contract.class_names == ["SIT_TO_STAND", "STAND_TO_SIT", "WALKING"]
    assert (np.bincount(prepared.splits["train"].y) > 0).all()


def _tiny_hapt(root, labels="1 1 1 1 4\n", acc_rows=None):
    rows = acc_rows or ["0.1 0.2 0.3"] * 6
    write(root / "activity_labels.txt", "1 WALKING\n2 SITTING\n")
    write(root / "RawData/acc_exp01_user01.txt", "\n".join(rows) + "\n")
    write(root / "RawData/gyro_exp01_user01.txt", "\n".join(["0 0 0"] * len(rows)) + "\n")
    write(root / "RawData/labels.txt", labels)
    return root


def test_tiny_layout_labels_are_one_based_inclusive(tmp_path):
    (recording,), _ = load_hapt(_tiny_hapt(tmp_path, labels="1 1 2 2 4\n"))
    assert recording.labels.tolist() == [-1, 1, 1, 1, -1, -1]


def test_unknown_activity_names_the_line(tmp_path):
    with pytest.raises(DataError, match=r"labels.txt, line 2, field 'activity': unknown activity id 9"):
        load_hapt(_tiny_hapt(tmp_path, labels="1 1 1 1 2\n1 1 9 3 4\n"))


def test_segment_outside_the_file(tmp_path):
    with pytest.raises(DataError, match=r"line 1: segment 1-60 outside 1-6"):
        load_hapt(_tiny_hapt(tmp_path, labels="1 1 1 1 60\n"))


def test_broken_sensor_row_names_file_line_and_column(tmp_path):
    rows = ["0.1 0.2 0.3"] * 6
    rows[3] = "0.1 oops 0.3"
    with pytest.raises(DataError, match=r"acc_exp01_user01.txt, line 4, field 'column 2': 'oops' is not a number"):
        load_hapt(_tiny_hapt(tmp_path, acc_rows=rows))
    rows[3] = "0.1 0.3"
    with pytest.raises(DataError, match=r"acc_exp01_user01.txt, line 4: 2 fields, expected 3"):
        load_hapt(_tiny_hapt(tmp_path, acc_rows=rows))
    rows[3] = "0.1 nan 0.3"
    with pytest.raises(DataError, match=r"line 4, field 'column 2': value nan is not finite"):
        load_hapt(_tiny_hapt(tmp_path, acc_rows=rows))
    rows[3] = "0.1 0.2 1e39"
    with pytest.raises(DataError, match=r"line 4, field 'column 3': value 1e\+39 is not finite as float32"):
        load_hapt(_tiny_hapt(tmp_path, acc_rows=rows))


def test_damaged_archive_is_refused(tmp_path):
    copy = tmp_path / EMBEDDED_HAPT.name
    data = bytearray(EMBEDDED_HAPT.read_bytes())
    data[1000] ^= 0xFF
    copy.write_bytes(bytes(data))
    shutil.copy(EMBEDDED_HAPT.with_name(EMBEDDED_HAPT.name + ".sha256"), tmp_path)
    with pytest.raises(DataError, match="SHA-256 .* the copy is damaged"):
        load_hapt(copy)


@pytest.mark.parametrize("content", ["", "not-a-digest  uci-hapt.tar.xz\n"])
def test_a_checksum_file_that_is_not_one_is_refused_naming_it(tmp_path, content):
    copy = tmp_path / EMBEDDED_HAPT.name
    copy.symlink_to(EMBEDDED_HAPT)
    write(tmp_path / (EMBEDDED_HAPT.name + ".sha256"), content)  # empty: had been an IndexError
    with pytest.raises(DataError, match=r"uci-hapt.tar.xz.sha256: not a SHA-256 checksum file"):
        load_hapt(copy)


def test_empty_dataset(tmp_path):
    write(tmp_path / "activity_labels.txt", "1 WALKING\n")
    write(tmp_path / "RawData/labels.txt", "")
    with pytest.raises(DataError, match="empty dataset"):
        load_hapt(tmp_path)


def test_the_default_recipe_trains_on_every_subject_outside_the_test_split():
    """configs/default.toml keeps no validation split (its final weights are the last epoch's): the 21 subjects
    outside UCI HAR's test users all train, and the test users stay out."""
    from train.config import load_config
    from train.data.split import split_subjects

    data = DataConfig.from_dict(load_config(REPO / "configs" / "default.toml")["data"])
    splits = split_subjects([str(s) for s in range(1, 31)], data)
    assert splits["test"] == ["2", "4", "9", "10", "12", "13", "18", "20", "24"]
    assert splits["validation"] == [] and len(splits["train"]) == 21 and not set(splits["train"]) & set(splits["test"])
