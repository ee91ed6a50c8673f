"""A model of several networks (model.members): the members' runs, the average the model computes, its
conversion, and the settings refused."""
import json

import numpy as np
import pytest

from train.run_config import RunConfig


@pytest.mark.parametrize("members", [0, 9, "3", True, 2.0])
def test_a_members_count_outside_1_to_8_is_refused_naming_it(members):
    with pytest.raises(ValueError, match=r"\[model\] members = "):
        RunConfig.from_dict({"model": {"members": members}})


def test_one_member_is_the_recipe_without_the_key_so_earlier_runs_stay_the_same_recipe():
    assert RunConfig.from_dict({"model": {"members": 1}}).to_dict() == RunConfig.from_dict({}).to_dict()


def test_member_configs_are_the_recipe_as_one_network_over_consecutive_seeds():
    from train.ensemble import member_configs

    config = RunConfig.from_dict({"model": {"members": 3, "dropout": 0.2}, "train": {"seed": 5}})
    members = member_configs(config)
    assert [m.train.seed for m in members] == [5, 6, 7]
    assert all(m.model == {"dropout": 0.2} and m.members == 1 for m in members)


@pytest.mark.slow
def test_a_run_of_two_members_averages_their_own_runs_and_converts_to_one_int8_model(tmp_path, capsys):
    from convert.pipeline import convert_run
    from har import main
    from train.evaluate import prepare_raw
    from train.run import load

    args = ["train", "--runs", str(tmp_path), "--name", "pair", "--epochs", "1", "--seed", "3",
            "--set", "model.members=2", "--set", "model.filters=[4,8]", "--set", "model.kernels=[5,5]"]
    assert main(args) == 0
    run = tmp_path / "pair"
    members = sorted((run / "members").iterdir())
    assert [m.name for m in members] == ["seed3", "seed4"] and "training member 2/2 (seed 4)" in capsys.readouterr().err
    for seed, member in zip((3, 4), members):
        recipe = json.loads((member / "config.json").read_text())
        assert recipe["train"]["seed"] == seed and "members" not in recipe["model"]
    config, contract, model = load(run)
    x = prepare_raw(config.data, contract)[0].splits["test"].x[:64]
    averaged = np.mean([load(m)[2].predict(x, verbose=0) for m in members], axis=0)
    np.testing.assert_allclose(model.predict(x, verbose=0), averaged, rtol=1e-5, atol=1e-6)

    report = convert_run(run, tmp_path / "pair.tflite", max_drop=100.0, max_class_drop=100.0)
    assert {"ADD", "MUL"} <= set(report["ops"]) and report["agreement"]["float_vs_int8_argmax"] > 0.9
    with pytest.raises(ValueError, match="--qat fine-tunes one network; this model averages 2"):
        convert_run(run, tmp_path / "qat.tflite", qat_epochs=1)

    from train.keras_file import save_keras
    from train.models import build_model

    other = build_model("mlp", contract.window, contract.input_channels, len(contract.class_names), {"units": [8]})
    save_keras(other, members[1] / "model.keras")  # its config.json still says the recipe: a crafted member
    (run / "training.json").unlink()
    assert main(args) == 2  # had been Keras's set_weights message, naming no file
    assert f"{members[1] / 'model.keras'}: a network of another architecture" in capsys.readouterr().err


def test_distilling_a_model_of_several_networks_is_refused_before_a_run_folder_exists(tmp_path, capsys):
    from har import main

    status = main(["train", "--runs", str(tmp_path), "--set", "model.members=2", "--set", "train.distill=2",
                   "--epochs", "1"])
    err = capsys.readouterr().err
    assert status == 2 and "model.members = 2" in err and "Traceback" not in err and not any(tmp_path.iterdir())


def test_the_best_checkpoint_of_a_model_of_several_networks_is_refused_naming_the_members_own(tmp_path):
    from hostile_support import TINY_RUN, crafted_run

    from train.run import RunError, check

    recipe = json.dumps(RunConfig.from_dict({**TINY_RUN, "model": {"family": "mlp", "members": 2}}).to_dict())
    run = crafted_run(tmp_path / "run", **{"config.json": recipe})
    with pytest.raises(RunError, match="averages 2 networks.*members/seedS/checkpoints/best.keras"):
        check(run, "best")
    no_validation = {**TINY_RUN, "data": {**TINY_RUN["data"], "validation_subjects": []},
                     "model": {"family": "mlp", "members": 2}}
    run = crafted_run(tmp_path / "default", **{"config.json": json.dumps(RunConfig.from_dict(no_validation).to_dict())})
    with pytest.raises(RunError, match="trained without validation subjects .* so it has no best epoch"):
        check(run, "best")  # as the default recipe is: its networks have no best checkpoint either
