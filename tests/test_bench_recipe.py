"""The recipe study keeps a candidate's recorded figures only where nothing says they are stale."""
import json
from pathlib import Path

from bench import recipe

REPO = Path(__file__).resolve().parent.parent
RECORDED = json.loads((REPO / "bench" / "results.json").read_text())["recipe"]


def _command(runs: Path, name: str) -> str:
    return recipe.shown_command(runs, recipe._tune(runs, name, recipe.CANDIDATES[name][1]))


def test_a_recipe_without_runs_and_with_its_recorded_command_keeps_its_figures_dated(tmp_path):
    kept = recipe._kept(RECORDED, tmp_path, "default", _command(tmp_path, "default"))
    entry = RECORDED["candidates"][recipe.CANDIDATES["default"][0]]
    assert kept["mean"] == entry["mean"] and kept["runs"] == entry["runs"]
    assert kept["measured"] == entry.get("measured", RECORDED["date"])


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
