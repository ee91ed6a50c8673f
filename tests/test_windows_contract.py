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


def test_range_scaling_puts_every_channels_tail_at_the_same_level():
    """A heavy-tailed channel (rare large turns) and a smooth one: z-scores leave their 99.9th percentiles
    far apart, so one int8 scale would give the smooth one few steps; "range" scaling puts both at 3.0."""
    from train.data.dataset import DataConfig, _normalisation
    from train.data.windows import Windows

    rng = np.random.default_rng(0)
    smooth = rng.uniform(-1, 1, 200_000)
    spiky = np.where(rng.random(200_000) < 0.01, 20.0, 1.0) * rng.normal(0, 1, 200_000)
    x = np.stack([smooth, spiky], axis=1).reshape(-1, 100, 2).astype(np.float32)
    windows = Windows(x, np.zeros(len(x), np.int64), np.array(["s"] * len(x)))

    def tails(scaling: str) -> np.ndarray:
        mean, divisor = _normalisation(windows, ("smooth", "spiky"), DataConfig(scaling=scaling))
        return np.percentile(np.abs((x.reshape(-1, 2) - mean) / divisor), 99.9, axis=0)

    z = tails("std")
    assert z[1] > 4 * z[0]
    assert tails("range") == pytest.approx([3.0, 3.0], rel=1e-3)


def test_range_scaling_never_divides_by_less_than_a_third_of_the_std():
    """A channel constant but for rare events has a 99.9th percentile near zero: dividing by it would send
    its events to thousands."""
    from train.data.dataset import DataConfig, _normalisation
    from train.data.windows import Windows

    rare = np.zeros(100_000)
    rare[::2000] = 10.0  # 0.05% of the samples
    x = rare.reshape(-1, 100, 1).astype(np.float32)
    _, divisor = _normalisation(Windows(x, np.zeros(len(x), np.int64), np.array(["s"] * len(x))), ("rare",),
                                DataConfig(scaling="range"))
    assert divisor == pytest.approx([rare.std() / 3], rel=1e-6)


def test_an_unknown_scaling_is_refused_by_name():
    from train.data.dataset import DataConfig

    with pytest.raises(ValueError, match=r"\[data\] scaling 'minmax' is not one of \['std', 'range'\]"):
        DataConfig.from_dict({"scaling": "minmax"})
