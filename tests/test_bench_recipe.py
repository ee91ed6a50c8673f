"""The recipe study keeps a candidate's recorded figures only where nothing says they are stale."""
import json
from pathlib import Path

import pytest

from bench import recipe

REPO = Path(__file__).resolve().parent.parent
RECORDED = json.loads((REPO / "bench" / "results.json").read_text())["recipe"]


def _command(runs: Path, name: str) -> str:
    return recipe.shown_command(runs, recipe._tune(runs, name, recipe.CANDIDATES[name][1]))


def test_a_recipe_without_runs_and_with_its_recorded_command_keeps_its_figures_dated_and_placed(tmp_path):
    kept = recipe._kept(RECORDED, tmp_path, "default", _command(tmp_path, "default"))
    entry = RECORDED["candidates"][recipe.CANDIDATES["default"][0]]
    assert kept["mean"] == entry["mean"] and kept["runs"] == entry["runs"] and kept["kept"]
    assert kept["measured"] == entry["measured"] and kept["machine"] == entry["machine"]
    label = recipe.CANDIDATES["default"][0]
    older = {"candidates": {label: {"command": entry["command"]}}, "date": "2026-11-20", "machine": "AMD EPYC, 2 cores"}
    dated = recipe._kept(older, tmp_path, "default", entry["command"])  # an entry older than per-entry dates
    assert (dated["measured"], dated["machine"]) == ("2026-11-20", "AMD EPYC, 2 cores")


def test_a_recipe_with_runs_a_changed_command_or_the_chosen_one_is_measured_again(tmp_path):
    assert recipe._kept(RECORDED, tmp_path, "default", _command(tmp_path, "default") + " --set train.epochs=1") is None
    (tmp_path / "tune-default").mkdir()
    assert recipe._kept(RECORDED, tmp_path, "default", _command(tmp_path, "default")) is None
    chosen = recipe.CHOSEN
    assert recipe._kept(RECORDED, tmp_path, chosen, _command(tmp_path, chosen)) is None
    assert recipe._kept(None, tmp_path / "none", "default", _command(tmp_path, "default")) is None


def test_every_recorded_recipe_but_the_chosen_one_would_be_kept_on_a_fresh_machine(tmp_path):
    """On a clone without runs, `har bench --only recipe` retrains only the chosen recipe (about 20 minutes),
    not the whole study: each recorded command still matches its candidate."""
    kept = [n for n in recipe.CANDIDATES if recipe._kept(RECORDED, tmp_path, n, _command(tmp_path, n))]
    assert set(recipe.CANDIDATES) - set(kept) <= {recipe.CHOSEN}


def test_a_candidate_is_paired_with_the_defaults_runs_from_its_own_machine():
    from bench.recipe_rules import paired_gain, same_machine

    runs = {"1-0": 0.97, "1-1": 0.96, "2-0": 0.98}
    default = {"machine": "Intel", "runs": {k: v - 0.003 for k, v in runs.items()},
               "earlier": {"machine": "AMD", "runs": runs}}
    on_amd = {"machine": "AMD", "runs": {k: v + 0.001 for k, v in runs.items()}}
    assert same_machine(default, on_amd) == (default["earlier"], on_amd)
    assert paired_gain(*same_machine(default, on_amd)) == pytest.approx((0.001, 0.0))
    on_intel = {"machine": "Intel", "runs": runs, "earlier": {"machine": "AMD", "runs": runs}}
    assert same_machine(default, on_intel) == (default, on_intel)
    assert same_machine({"machine": "AMD", "runs": runs}, on_intel) == ({"machine": "AMD", "runs": runs}, on_intel["earlier"])


def test_the_chosen_recipes_stale_finals_become_the_current_default_cnns(tmp_path):
    """A changed default (another split, say) left final runs of the older one in tune-CHOSEN, which `har tune`
    refuses as another recipe after hours of training: they are replaced by make bench's default CNNs of the
    same seeds; a final run of the current recipe, or a default CNN of another, is left alone."""
    import json

    from train.config import load_config
    from train.run_config import RunConfig

    def run(folder: Path, seed: int, **data) -> Path:
        config = load_config(REPO / "configs" / "default.toml")
        config["train"]["seed"] = seed
        config["data"].update(data)
        folder.mkdir(parents=True)
        (folder / "config.json").write_text(json.dumps(RunConfig.from_dict(config).to_dict()))
        (folder / "training.json").write_text("{}")
        return folder

    tune = tmp_path / f"tune-{recipe.CHOSEN}"
    run(tmp_path / "cnn-seed0", 0)
    run(tmp_path / "cnn-seed1", 1)
    run(tmp_path / "cnn-seed2", 2, test_subjects=["1"])  # not the current default: not copied
    run(tune / "final-seed0", 0, validation_subjects=["5", "15", "25"])  # stale: replaced
    (run(tune / "final-seed1", 1) / "mine").write_text("kept")  # current: left alone
    recipe._finals_from_default(tmp_path, recipe.CHOSEN)
    assert json.loads((tune / "final-seed0" / "config.json").read_text()) == \
        json.loads((tmp_path / "cnn-seed0" / "config.json").read_text())
    assert (tune / "final-seed1" / "mine").read_text() == "kept" and not (tune / "final-seed2").exists()
