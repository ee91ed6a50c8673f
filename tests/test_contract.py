"""The one contract type: a round trip, and every kind of bad value refused with the field named."""
import json

import numpy as np
import pytest

from device_runtime.contract import Contract, ContractError

Q = {"input_scale": 0.1, "input_zero_point": -3, "output_scale": 0.00390625, "output_zero_point": -128}


FINE = {"channels": ["y"], "scale": [0.5], "limit": 2.0}
VERTICAL = {"channels": ["x", "y", "z"], "mean": [1.0, 0.0], "std": [0.5, 0.1]}


def values(**changes):
    base = dict(
        sample_rate_hz=50.0, channels=["x", "y"], units=["g", "g"], window=4, stride=2,
        class_names=["a", "b"], norm_mean=[1.0, 2.0], norm_std=[2.0, 4.0],
    )
    return base | changes


def test_round_trip_and_normalise():
    c = Contract(**values(quantization=Q))
    assert Contract.from_json(c.to_json()) == c
    np.testing.assert_array_equal(c.normalise(np.array([[3.0, 2.0]])), [[1.0, 0.0]])
    assert c.with_quantization(None).quantization is None and c.quantization == Q


def test_fine_motion_inputs_follow_the_channels():
    """Each fine-motion channel minus its window mean (here 3), over its scale, clipped at the limit."""
    c = Contract(**values(fine_motion=FINE))
    window = np.array([[1.0, 2.0], [1.0, 3.0], [1.0, 3.5], [1.0, 3.5]])  # y's mean: 3.0
    np.testing.assert_array_equal(c.normalise(window), [[0, 0, -2], [0, 0.25, 0], [0, 0.375, 1], [0, 0.375, 1]])
    assert c.input_channels == 3 and Contract.from_json(c.to_json()) == c


def test_vertical_inputs_are_motion_along_and_across_the_window_mean_whichever_way_the_sensor_points():
    """Last come the triad's motion (minus its window mean, here z = 1) along that mean and the size of the
    rest, as z-scores; turning the sensor changes the channels, not these two, and neither does gravity's size.
    A contract without them writes no `vertical` field, so its JSON (and any model embedding it) reads as
    before that field existed."""
    three = values(channels=["x", "y", "z"], units=["g"] * 3, norm_mean=[0.0] * 3, norm_std=[1.0] * 3)
    c = Contract(**three, vertical=VERTICAL)
    window = np.array([[0.0, 0.0, 1.0], [0.0, 0.0, 1.0], [0.3, 0.0, 1.5], [-0.3, 0.0, 0.5]], np.float32)  # mean: z = 1
    out = c.normalise(window)
    np.testing.assert_array_equal(out[:, :3], window)
    np.testing.assert_array_equal(out[:, 3], (window[:, 2] - 1.0 - 1.0) / 0.5)
    np.testing.assert_allclose(out[:, 4], [0.0, 0.0, 3.0, 3.0], atol=1e-5)
    turn = np.array([[0.6, 0.0, 0.8], [0.0, 1.0, 0.0], [-0.8, 0.0, 0.6]], np.float32)  # 53 degrees about y
    np.testing.assert_allclose(c.normalise(window @ turn.T)[:, 3:], out[:, 3:], atol=1e-5)
    np.testing.assert_allclose(c.normalise(window * 1.05)[:, 3:], out[:, 3:], atol=0.2)  # a 5% gain: motion 5% larger
    np.testing.assert_allclose(c.normalise(window + [0.0, 0.0, 0.05])[:, 3:], out[:, 3:], atol=1e-5)  # an offset
    assert np.all(c.normalise(np.zeros((4, 3), np.float32))[:, 3] == -2.0)  # no mean, no vertical: 0
    assert c.input_channels == 5 and Contract.from_json(c.to_json()) == c
    assert "vertical" not in json.loads(Contract(**three).to_json())


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"units": ["g"]}, "units must have one entry per channel"),
        ({"norm_std": [1.0, 0.0]}, "norm_std must be positive"),
        ({"norm_std": [1.0, float("nan")]}, "norm_std must be 2 finite float32 numbers"),
        ({"norm_std": [1.0, 1e-50]}, "norm_std must be positive float32 numbers"),  # 0 in float32
        ({"norm_mean": [1.0, "2"]}, "norm_mean must be 2 finite float32 numbers"),
        ({"norm_mean": [1.0, 1e300]}, "norm_mean must be 2 finite float32 numbers"),  # inf in float32
        ({"version": 99}, "version 99"),
        ({"version": "1"}, "version '1'"),
        ({"class_names": ["a"]}, "at least two class names"),
        ({"class_names": ["a", "a"]}, "class_names repeats a name"),
        ({"sample_rate_hz": 0}, "sample_rate_hz must be a number"),
        ({"sample_rate_hz": True}, "sample_rate_hz must be a number"),
        ({"sample_rate_hz": 1e-300}, "sample_rate_hz must be a number in .0.001, 100000."),  # a sleep past time_t
        ({"stride": 0}, "stride must be a whole number"),
        ({"window": 2.5}, "window must be a whole number"),
        ({"window": "4); int evil(void"}, "window must be a whole number"),
        ({"channels": "xy"}, "channels must be a list of names"),
        ({"channels": ["x" * 65, "y"]}, "channels must be a list of names"),
        ({"task": "dance"}, "task must be one of"),
        ({"min_purity": 0}, "min_purity must be in"),
        ({"quantization": {"input_scale": 0.1}}, "quantization must be null or an object"),
        ({"quantization": Q | {"input_zero_point": 300}}, "input_zero_point must be a whole number"),
        ({"quantization": Q | {"output_scale": -1.0}}, "output_scale must be a positive"),
        ({"quantization": Q | {"output_scale": 1e300}}, "output_scale must be a positive finite float32"),
        ({"fine_motion": {"channels": ["x"], "scale": [1.0]}}, "fine_motion must be null or an object"),
        ({"fine_motion": FINE | {"channels": ["z"]}}, "fine_motion.channels must list distinct names"),
        ({"fine_motion": FINE | {"channels": ["y", "y"], "scale": [1.0, 1.0]}}, "fine_motion.channels must list"),
        ({"fine_motion": FINE | {"scale": [0.0]}}, "fine_motion.scale must be 1 positive"),
        ({"fine_motion": FINE | {"scale": [1.0, 2.0]}}, "fine_motion.scale must be 1 positive"),
        ({"fine_motion": FINE | {"limit": float("inf")}}, "fine_motion.limit must be a number"),
        ({"fine_motion": FINE | {"limit": "8); evil("}}, "fine_motion.limit must be a number"),
        ({"vertical": {"channels": ["x", "y"]}}, "vertical must be null or an object"),
        ({"vertical": VERTICAL | {"channels": ["x", "y"]}}, "vertical.channels must be 3 distinct names"),
        ({"vertical": VERTICAL | {"channels": ["x", "y", "y"]}}, "vertical.channels must be 3 distinct names"),
        ({"vertical": VERTICAL | {"mean": [1.0, float("nan")]}}, "vertical.mean must be 2 finite"),
        ({"vertical": VERTICAL | {"std": [1.0, 0.0]}}, "vertical.std must be 2 positive"),
        ({"vertical": VERTICAL | {"std": ["1); evil(", 1.0]}}, "vertical.std must be 2 positive"),
        ({"class_names": ["\ud800", "b"]}, r"class_names must be a list of names .*UTF-8"),  # JSON's "\ud800"
        ({"class_names": ["a\x1b]0;title\x07", "b"]}, r"class_names must be a list of names .*no newline"),
        ({"channels": ["x\ny", "y"]}, r"channels must be a list of names .*no newline"),
        ({"task": "regression", "class_names": ["speed"], "target": {"unit": "m/s", "scale": 3e38, "offset": 3e38}},
         "target.scale and target.offset must keep every value within"),  # had reported inf, which JSON lacks
        ({"task": "regression", "class_names": ["speed"], "target": {"unit": "m/s", "scale": 1.0, "offset": 0.0},
          "quantization": Q | {"output_scale": 1e30}}, "output_scale must keep a regression output within"),
        ({"extra": {"x": json.loads("[" * 600 + "]" * 600)}}, "extra nests deeper than 32 levels"),
        ({"norm_mean": [10 ** 400, 0.0]}, "norm_mean must be 2 finite"),  # had raised OverflowError
        ({"task": "regression", "class_names": ["speed", "x"], "target": {"unit": "m/s", "scale": 1.0, "offset": 0.0}},
         "a regression model has one output"),  # its firmware's init had failed on every board
        ({"task": "regression", "class_names": ["speed"], "target": {"unit": "m/s\n", "scale": 1.0, "offset": 0.0}},
         "target.unit must be a name of 0-64 printable"),
    ],
)
def test_invalid_contracts_are_refused(changes, message):
    with pytest.raises(ContractError, match=message):
        Contract(**values(**changes))


@pytest.mark.parametrize(
    "text, message",
    [
        ("[1, 2]", "a contract is a JSON object, not list"),
        ("null", "not NoneType"),
        ("[" * 100000 + "]" * 100000, "not valid JSON"),
        (json.dumps(values() | {"colour": 1}), r"unknown fields \['colour'\]"),
        (json.dumps({f"k{i}": i for i in range(100000)}), "unknown fields .* and 99995 more"),
        (json.dumps({k: v for k, v in values().items() if k != "window"}), r"missing fields \['window'\]"),
        (json.dumps(values()).replace('"window": 4', '"window": ' + "1" * 5000), "not valid JSON .*digits"),
    ],
)
def test_bad_json_is_refused_briefly(text, message):
    with pytest.raises(ContractError, match=message) as error:
        Contract.from_json(text, "side.json")
    assert str(error.value).startswith("side.json") and len(str(error.value)) < 500


def test_contract_files_that_are_not_files(tmp_path):
    with pytest.raises(ValueError, match="is a folder"):
        Contract.read(tmp_path)
    with pytest.raises(ValueError, match="does not exist"):
        Contract.read(tmp_path / "none.json")


@pytest.mark.parametrize("side", ["sidecar", "embedded"])
def test_a_stale_sidecar_that_has_a_field_the_embedded_contract_lacks_or_the_reverse_is_named(
        side, tiny_fine_model, tiny_vertical_model, tmp_path):
    """A model reconverted without the vertical inputs beside its old JSON copy (or the reverse): refused,
    naming `vertical`, not a KeyError or an empty list of differences."""
    from device_runtime.contract import contract_from_model, load_contract, sidecar_path
    from device_runtime.model_file import ModelError

    with_vertical, without = (contract_from_model(m.read_bytes()).to_dict() for m in (tiny_vertical_model, tiny_fine_model))
    model, beside = (tiny_fine_model, with_vertical) if side == "sidecar" else (tiny_vertical_model, without)
    copy = tmp_path / "model.tflite"
    copy.write_bytes(model.read_bytes())
    sidecar_path(copy).write_text(json.dumps(beside))
    with pytest.raises(ModelError, match=r"disagrees with the contract embedded in model.tflite on \[.*'vertical'"):
        load_contract(copy)


def test_a_model_whose_contract_buffer_has_an_offset_but_no_size_is_refused():
    """Metadata stored after the flatbuffer (offset > 1) with the size field left out: a ModelError naming
    the file, not a TypeError."""
    from convert.flatbuffer import schema, serialise
    from device_runtime.model_file import METADATA_NAME, ModelError, read_metadata

    model = schema.ModelT()
    model.version, model.buffers = 3, [schema.BufferT(), schema.BufferT()]
    model.buffers[1].offset = 1000
    entry = schema.MetadataT()
    entry.name, entry.buffer = METADATA_NAME, 1
    model.metadata = [entry]
    with pytest.raises(ModelError, match="crafted.tflite: truncated or corrupted.*has no size"):
        read_metadata(serialise(model), "crafted.tflite")
