"""The regression section of BENCHMARKS.md: walking cadence (steps/min) from float to int8 to TFLM.

Trains configs/cadence.toml (a small CNN on the cadence target derived from the embedded HAPT data, see
train/data/targets.py), converts it with `har convert`'s int8 guard, and reports MAE float vs int8 (LiteRT)
vs TFLM beside the mean predictor. The classifier `model` that the other sections measure is not used.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CONFIG = REPO / "configs" / "cadence.toml"


def measure(model: str | Path | None = None) -> dict:
    """Train, convert and validate the cadence recipe; the conversion report's figures."""
    from convert.pipeline import convert_run
    from train.config import load_config
    from train.fit import train_run
    from train.run_config import RunConfig

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        run = train_run(RunConfig.from_dict(load_config(CONFIG)), "cadence", runs=tmp, quiet=True)
        train_seconds = time.perf_counter() - start
        report = convert_run(run, Path(tmp) / "cadence.tflite")
    figures = {name: report[name] for name in ("float", "int8", "tflm", "baseline_mean_predictor")}
    return {"config": CONFIG.name, "unit": report["unit"], "train_seconds": train_seconds, **figures,
            "mae_increase_percent": report["mae_increase_percent"], "output_type": report["output_type"],
            "size_bytes": report["size_bytes"], "test_subjects": report["test_subjects"],
            "max_output_difference_lsb": report["agreement"].get("max_output_difference_lsb")}


def markdown(results: dict) -> str:
    unit = results["unit"]
    rows = [f"| {name} | {results[key]['mae']:.2f} | {results[key]['rmse']:.2f} | {results[key]['r2']:.3f} |"
            for name, key in (("float (Keras)", "float"), ("int8 (LiteRT)", "int8"), ("int8 (TFLM, host)", "tflm"),
                              ("mean predictor (baseline)", "baseline_mean_predictor"))]
    return "\n".join([
        "## Regression: walking cadence", "",
        f"`{results['config']}`: a small CNN predicting walking cadence in {unit}, derived from the accelerometer "
        "magnitude of the embedded HAPT walking segments (train/data/targets.py), trained in "
        f"{results['train_seconds']:.0f} s and converted to int8 ({results['output_type']} output, "
        f"{results['size_bytes']:,} bytes). Test subjects {' '.join(results['test_subjects'])}, "
        f"{results['float']['windows']} windows.", "",
        f"| model | MAE ({unit}) | RMSE ({unit}) | R^2 |", "|---|---|---|---|", *rows, "",
        f"int8 MAE is {results['mae_increase_percent']:+.2f}% against float (the guard allows +5%); LiteRT and TFLM "
        f"differ by at most {results['max_output_difference_lsb']} output LSB.", "",
    ])
