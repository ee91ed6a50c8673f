"""Windowing, label policy, class selection and the preprocessing contract on exact small examples."""
import numpy as np
import pytest

from train.data.recording import Recording
from train.data.windows import cut_windows

LABELS = [0, 0, 0, 0, 0, 0, 1, 1, 1, 1, -1, -1, 0, 0, 0, 0]


def recording(labels=LABELS, nan_at=None):
    samples = np.arange(len(labels), dtype=np.float32)[:, None].repeat(2, axis=1)
    if nan_at is not None:
        samples[nan_at, 1] = np.nan
    return Recording("fixture", "s1", 50.0, ("x", "y"), ("g", "g"), samples, np.array(labels, np.int16), ("a", "b"))


def test_pure_windows_restart_at_each_segment():
    windows, drops = cut_windows([recording()], 4, 2, {"a": "a", "b": "b"}, ["a", "b"])
    assert windows.x[:, 0, 0].tolist() == [0, 2, 6, 12]
    assert windows.y.tolist() == [0, 0, 1, 0]
    assert windows.x.shape == (4, 4, 2)
    assert drops == {"unlabelled samples in the window": 2, "mixed activities (purity below 1)": 1}


def test_class_selection_and_renaming():
    windows, drops = cut_windows([recording()], 4, 2, {"a": "A"}, ["A"])
    assert windows.y.tolist() == [0, 0, 0]
    assert drops["activity not among the selected classes"] == 1


def test_majority_policy_with_unlabelled_allowed():
    windows, _ = cut_windows([recording()], 4, 2, None, ["a", "b"], min_purity=0.5, allow_unlabelled=True)
    assert windows.x[:, 0, 0].tolist() == [0, 2, 4, 6, 8, 10, 12]
    assert windows.y.tolist() == [0, 0, 0, 1, 1, 0, 0]


def test_windows_with_missing_values_are_dropped():
    windows, drops = cut_windows([recording(nan_at=1)], 4, 2, None, ["a", "b"])
    assert windows.x[:, 0, 0].tolist() == [2, 6, 12]
    assert drops["missing values (NaN gap)"] == 1


def test_mismatched_channels_are_refused():
    other = recording()
    other.channels = ("x", "z")
    with pytest.raises(ValueError, match="channels \\['x', 'z'\\] differ"):
        cut_windows([recording(), other], 4, 2, None, ["a", "b"])
