"""The recipe study's candidates: each a `har tune` command's options over configs/default.toml, the
rounds that scored them against the default of their time, and the recipe chosen (bench/recipe.py measures
them, bench/recipe_rules.py turns the figures into verdicts)."""
from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# name -> (label, options over the built-in defaults, which are the previous default recipe). Each candidate
# pins what configs/default.toml has changed since it was scored, so its finished runs are reused.
# the recipes before distillation, several networks in one model, the vertical inputs, the walking classes' rotation
# and the postures' 15°
CONFIG = ["--config", str(REPO / "configs" / "default.toml"), "--set", "train.distill=0", "--set", "model.members=1",
          "--set", 'data.vertical=""', "--set", "train.augment_rotation_classes={}", "--set", "train.augment_rotation=30"]
ROTATION = [*CONFIG, "--set", "train.epochs=30"]  # the recipes before 60 epochs
DEFAULT = [*ROTATION, "--set", "train.augment_rotation=0"]  # the recipes before rotation augmentation
BEFORE = ["--set", "model.kernels=[3,3,3]"]  # the kernels before "fine-acc-kernel5" (a later --set wins)
PLAIN = [*BEFORE, "--set", "data.fine_motion=[]"]  # the recipes before fine motion
FINE = [*BEFORE, "--set", 'data.fine_motion=["gyro"]']
FINE_BOTH = ["--set", 'data.fine_motion=["gyro","acc"]']
SEEDED = ["--cv-seeds", "3"]  # from the 60-epoch round on: each fold trained with 3 seeds
SIXTY = [*CONFIG, "--set", "train.epochs=60"]


def _gait(degrees: int) -> list[str]:
    """Walking and stairs turned by up to `degrees` (the other classes by train.augment_rotation)."""
    return ["--set", f"train.augment_rotation_classes={{WALKING={degrees},WALKING_UPSTAIRS={degrees},"
            f"WALKING_DOWNSTAIRS={degrees}}}"]


GAIT60 = _gait(60)
VERTICAL = ["--set", "data.vertical=acc"]


def _rotated(degrees: int) -> list[str]:
    return [*ROTATION, "--set", f"train.augment_rotation={degrees}"]


CANDIDATES = {
    "default": ("first default (gravity branch of all channels)", []),
    "acc-gravity-gyrobias": ("accelerometer-only gravity branch, gyro-bias augmentation 0.1 rad/s",
                             ["--set", "model.gravity_channels=acc", "--set", "train.augment_gyro_bias=0.1"]),
    "search-trial21": ("har search trial 21: separable CNN 16-24-36, kernel 3, average pooling, no gravity branch, "
                       "gyro-bias augmentation 0.1 rad/s, 15 epochs",
                       [*DEFAULT, *PLAIN, "--set", "train.augment_gyro_bias=0.1", "--set", "train.epochs=15"]),
    "search-trial21-bias03": ("the same with gyro-bias augmentation 0.3 rad/s",
                              [*DEFAULT, *PLAIN, "--set", "train.epochs=15"]),
    "default-acc-gravity": ("the fourth with an accelerometer-only gravity branch",
                            [*DEFAULT, *PLAIN, "--set", "train.epochs=15", "--set", "model.gravity_branch=true"]),
    "default-range-scaling": ("the fourth with range scaling (every channel's 99.9th percentile at 3)",
                              [*DEFAULT, *PLAIN, "--set", "train.epochs=15", "--set", "data.scaling=range"]),
    "default-no-noise": ("the fourth without noise augmentation",
                         [*DEFAULT, *PLAIN, "--set", "train.epochs=15", "--set", "train.augment_noise=0"]),
    "default-30-epochs": ("the fourth trained 30 epochs", [*DEFAULT, *PLAIN, "--set", "train.epochs=30"]),
    "default-wide": ("the fourth trained 30 epochs, filters 32-48-72 (outside the search's budget)",
                     [*DEFAULT, *PLAIN, "--set", "train.epochs=30", "--set", "model.filters=[32,48,72]"]),
    "default-kernel5": ("the fourth trained 30 epochs, kernels of 5",
                        [*DEFAULT, *PLAIN, "--set", "train.epochs=30", "--set", "model.kernels=[5,5,5]"]),
    "default-acc-bias": ("the 30-epoch recipe with accelerometer-bias augmentation 0.05 g",
                         [*DEFAULT, *PLAIN, "--set", "train.epochs=30", "--set", "train.augment_acc_bias=0.05"]),
    "default-fine-motion": ("the 30-epoch recipe with the gyro's fine motion as 3 more inputs",
                            [*DEFAULT, *FINE, "--set", "train.epochs=30"]),
    "fine-motion-acc": ("the gyro's and the accelerometer's fine motion (6 more inputs)", [*DEFAULT, *FINE_BOTH, *BEFORE]),
    "fine-acc-kernel5": ("both sensors' fine motion, kernels of 5", [*DEFAULT, *FINE_BOTH, "--set", "model.kernels=[5,5,5]"]),
    "fine-acc-15-epochs": ("both sensors' fine motion, 15 epochs", [*DEFAULT, *FINE_BOTH, *BEFORE, "--set", "train.epochs=15"]),
    "fine-acc-acc-bias": ("both sensors' fine motion, accelerometer-bias augmentation 0.05 g",
                          [*DEFAULT, *FINE_BOTH, *BEFORE, "--set", "train.augment_acc_bias=0.05"]),
    "fine-acc-kernel7": ("both sensors' fine motion, kernels of 7", [*DEFAULT, "--set", "model.kernels=[7,7,7]"]),
    "fine-acc-kernel5-15-epochs": ("both sensors' fine motion, kernels of 5, 15 epochs",
                                   [*DEFAULT, "--set", "train.epochs=15"]),
    **{f"fine-kernel5-rotation{d}": (f"kernels of 5, the sensor turned by up to {d}° in training", _rotated(d))
       for d in (10, 20, 30, 45, 60)},
    **{f"rotation30-scale0{int(10 * a)}": (f"rotation 30°, motion scaled by 1 ± {a:g} (not 0.1)",
                                           [*ROTATION, "--set", f"train.augment_scale={a:g}"]) for a in (0.2, 0.3)},
    **{f"rotation30-speed0{int(10 * a)}": (f"rotation 30°, each window at 1 ± {a:g} times the pace",
                                           [*ROTATION, "--set", f"train.augment_speed={a:g}"]) for a in (0.1, 0.2)},
    "rotation30-dropout02": ("rotation 30°, dropout 0.2", [*ROTATION, "--set", "model.dropout=0.2"]),
    "rotation30-60-epochs": ("rotation 30°, 60 epochs", [*CONFIG, "--set", "train.epochs=60", *SEEDED]),
    "rotation30-60-epochs-dropout02": ("rotation 30°, 60 epochs, dropout 0.2",
                                       [*CONFIG, "--set", "train.epochs=60", "--set", "model.dropout=0.2", *SEEDED]),
    "distill3": ("60 epochs, distilled from 3 seeds' models",
                 [*CONFIG, "--set", "train.epochs=60", "--set", "train.distill=3", *SEEDED]),
    "members3": ("60 epochs, 3 seeds' networks averaged in one model",
                 [*CONFIG, "--set", "train.epochs=60", "--set", "model.members=3", *SEEDED]),
    "gait-rotation60": ("60 epochs, one network, walking and stairs turned by up to 60° (postures 30°)",
                        [*SIXTY, *GAIT60, *SEEDED]),
    "vertical": ("60 epochs, one network, the accelerometer's motion along and across gravity as 2 more inputs",
                 [*SIXTY, *VERTICAL, *SEEDED]),
    "vertical-gait-rotation60": ("60 epochs, one network, the vertical inputs, walking and stairs turned by up to 60° "
                                 "(postures 30°)", [*SIXTY, *VERTICAL, *GAIT60, *SEEDED]),
    "vertical-gait-rotation60-distill3": ("the same, distilled from 3 seeds' networks",
                                          [*SIXTY, *VERTICAL, *GAIT60, "--set", "train.distill=3", *SEEDED]),
    "vertical-gait-rotation45": ("60 epochs, one network, the vertical inputs, walking and stairs turned by up to 45° "
                                 "(postures 30°)", [*SIXTY, *VERTICAL, *_gait(45), *SEEDED]),
    "vertical-gait-rotation60-postures15": ("one network, the vertical inputs, walking and stairs turned by up to 60°, "
                                            "postures by up to 15°",
                                            [*SIXTY, *VERTICAL, *GAIT60, "--set", "train.augment_rotation=15", *SEEDED]),
    **{f"postures15-{key}": (f"the same, {words}", [*SIXTY, *VERTICAL, *GAIT60, "--set", "train.augment_rotation=15",
                                                   "--set", option, *SEEDED])
       for key, words, option in (("scale02", "motion scaled by 1 ± 0.2 (not 0.1)", "train.augment_scale=0.2"),
                                  ("speed01", "each window at 1 ± 0.1 times the pace", "train.augment_speed=0.1"),
                                  ("postures5", "postures turned by up to 5° (not 15°)", "train.augment_rotation=5"),
                                  ("dilation2", "the second and third convolutions dilated by 2 (each feature sees "
                                   "1.2 s, a whole stride, not 0.7 s; same cost)", "model.dilation=2"),
                                  ("window384", "windows of 3.84 s (not 2.56 s)", "data.window=3.84s"),
                                  ("members3", "3 networks averaged in one model (seeds seed .. seed+2; the firmware "
                                   "runs them one at a time)", "model.members=3"))},
    "postures15-acc-gravity": ("the same, one network, an accelerometer-only gravity branch (the window means of acc_x, "
                               "acc_y, acc_z straight to the classifier: the tilt that tells postures apart)",
                               [*SIXTY, *VERTICAL, *GAIT60, "--set", "train.augment_rotation=15", "--set",
                                "model.gravity_branch=true", "--set", "model.gravity_channels=acc", *SEEDED]),
    "postures15-warp02": ("the same, one network, the motion's gain drifting along each window (5 knots drawn about 1, "
                          "spread 0.2: no two of a wearer's steps land alike)",
                          [*SIXTY, *VERTICAL, *GAIT60, "--set", "train.augment_rotation=15", "--set", "train.augment_warp=0.2",
                           *SEEDED]),
    "postures15-epochs90": ("the same, one network, trained 90 epochs (not 60)",
                            [*SIXTY, *VERTICAL, *GAIT60, "--set", "train.augment_rotation=15", "--set", "train.epochs=90",
                             *SEEDED]),
}
# Each round: its name, the default of its time, and the candidates scored against that default.
ROUNDS = (("the fourth", "search-trial21-bias03", ("default-acc-gravity", "default-range-scaling", "default-no-noise",
                                                   "default-30-epochs", "default-wide", "default-kernel5")),
          ("the 30-epoch recipe", "default-30-epochs", ("default-acc-bias", "default-fine-motion")),
          ("the gyro's fine motion", "default-fine-motion", ("fine-motion-acc",)),
          ("both sensors' fine motion", "fine-motion-acc", ("fine-acc-kernel5", "fine-acc-15-epochs", "fine-acc-acc-bias")),
          ("kernels of 5", "fine-acc-kernel5", ("fine-acc-kernel7", "fine-acc-kernel5-15-epochs",
                                                "fine-kernel5-rotation10", "fine-kernel5-rotation20")),
          ("rotation 20°", "fine-kernel5-rotation20", ("fine-kernel5-rotation30",)),
          ("rotation 30°", "fine-kernel5-rotation30", ("fine-kernel5-rotation45", "fine-kernel5-rotation60",
                                                       "rotation30-scale02", "rotation30-scale03",
                                                       "rotation30-speed01", "rotation30-speed02",
                                                       "rotation30-dropout02", "rotation30-60-epochs")),
          ("60 epochs", "rotation30-60-epochs", ("rotation30-60-epochs-dropout02", "distill3")),
          ("distillation", "distill3", ("members3", "gait-rotation60", "vertical", "vertical-gait-rotation60")),
          ("the vertical inputs, walking classes at 60°", "vertical-gait-rotation60",
           ("vertical-gait-rotation60-distill3", "vertical-gait-rotation45", "vertical-gait-rotation60-postures15")),
          ("the postures at 15°", "vertical-gait-rotation60-postures15",
           ("postures15-scale02", "postures15-speed01", "postures15-postures5", "postures15-dilation2",
                                                   "postures15-window384", "postures15-members3",
                                                   "postures15-acc-gravity", "postures15-warp02",
                                                   "postures15-epochs90")))
CHOSEN = "postures15-members3"
# Recipes the rules would adopt whose firmware misses the budget every default meets (the example app within
# 160 KB of flash and 16 KB of RAM: tests/test_firmware_check.py), with what was measured when one was the default.
OVER_BUDGET = {"members3": "its example app needed 26,720 B of RAM (`make bench` with it as the default, 2026-11-27, "
                           "before the firmware ran the networks one at a time)"}
FOLDS, SEEDS = 3, 3
