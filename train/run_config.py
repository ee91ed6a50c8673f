"""A run's resolved configuration ([data], [model], [train]), validated without importing TensorFlow, so a
bad value or a crafted config.json is refused before any model is built."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

from device_runtime.contract_checks import is_number
from train.config import checked
from train.data.dataset import DataConfig

FAMILIES = ("cnn", "mlp", "lstm", "convlstm")
MAX_MEMBERS = 8  # networks averaged in one model (model.members), as many as teachers (train.distill)
SIZES, MAX_SIZE = ("filters", "kernels", "units", "lstm_units", "dilation"), 4096  # widths, taps, spacing


@dataclass
class TrainConfig:
    """[train] in the config file. Defaults are the measured settings of the default CNN (BENCHMARKS.md)."""

    epochs: int = 100
    batch_size: int = 32
    learning_rate: float = 2e-3  # Adam, cosine-decayed to zero over `epochs`
    class_weights: str | dict = "balanced"  # "balanced", "none", or {class name: weight}
    seed: int = 0
    final_model: str = "last"  # "last": the weights at the end of the cosine schedule; "best": best validation epoch
    patience: int = 0  # early stopping after this many epochs without a better validation score (0: off)...
    warmup_epochs: int = 10  # ...never before this epoch (3 validation subjects make early epochs noisy)
    augment_scale: float = 0.1  # random scaling of each window's motion (around its mean) by 1 +- this
    augment_noise: float = 0.05  # Gaussian noise (in normalised units) added to training windows
    augment_gyro_bias: float = 0.0  # rad/s: a random constant bias per window and gyro axis, up to this size
    augment_acc_bias: float = 0.0  # g: the same for the accelerometer (an uncalibrated MEMS part's offset)
    augment_rotation: float = 0.0  # degrees: the sensor turned by up to this about a random axis, per window
    # {class name: degrees}: the windows of these classes turned by up to their own angle instead (a walk is a
    # walk however the sensor sits; a posture is told by where gravity falls on it)
    augment_rotation_classes: dict = field(default_factory=dict)
    augment_speed: float = 0.0  # each window's motion played 1 +- this times as fast (another wearer's pace)
    augment_warp: float = 0.0  # the motion's gain drifting along the window: 5 knots about 1, this their spread
    distill: int = 0  # K > 0: train K teachers (seeds seed..seed+K-1), then this model on their mean outputs
    checkpoint: str = "best"  # "best": keep the best epoch only; "every": also keep every epoch
    loss: str = "mse"  # regression only: "mse" or "mae"
    output_activation: str = "linear"  # regression only: "linear" or "relu"

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        config = cls(**checked(cls, data, "train"))
        problems = _train_problems(config)
        if problems:
            raise ValueError("[train] " + "; ".join(problems))
        return config


def _train_problems(c: TrainConfig) -> list[str]:
    """What train/config.py's `checked` (types, finite, not negative) leaves: lower bounds and choices."""
    bounds = [("epochs", c.epochs >= 1, "at least 1"), ("batch_size", 1 <= c.batch_size <= 65536, "from 1 to 65536"),
              ("learning_rate", 0 < c.learning_rate <= 1, "above 0 and at most 1"),
              ("seed", c.seed < 2**32, "below 2**32 (TensorFlow's and numpy's seeds)"),
              ("augment_scale", c.augment_scale < 1, "below 1"), ("augment_warp", c.augment_warp <= 0.5, "at most 0.5"),
              ("augment_speed", c.augment_speed <= 0.5, "at most 0.5"), ("distill", c.distill <= 8, "at most 8 (teachers)"),
              ("augment_rotation", c.augment_rotation <= 180, "at most 180 (degrees)")]
    choices = {"checkpoint": ("best", "every"), "final_model": ("last", "best"), "loss": ("mse", "mae"),
               "output_activation": ("linear", "relu")}
    problems = [f"{key} = {getattr(c, key)!r}: must be {bound}" for key, ok, bound in bounds if not ok]
    problems += [f"{key} must be one of {list(allowed)}, not {getattr(c, key)!r}"
                 for key, allowed in choices.items() if getattr(c, key) not in allowed]
    turns = c.augment_rotation_classes
    if not all(is_number(d) and 0 <= d <= 180
               for d in turns.values()):
        problems.append(f"augment_rotation_classes = {turns!r}: must be a table of class name = degrees from 0 to 180")
    weights = c.class_weights
    if not (weights in ("balanced", "none") or isinstance(weights, dict) and all(
            is_number(w) and w >= 0 for w in weights.values())):
        problems.append("class_weights must be 'balanced', 'none' or a table of class name = weight >= 0")
    return problems


@dataclass
class RunConfig:
    data: DataConfig
    train: TrainConfig
    family: str = "cnn"
    model: dict = field(default_factory=dict)  # family hyperparameters, see train/models.py DEFAULTS

    @classmethod
    def from_dict(cls, config: dict) -> "RunConfig":
        model = dict(config.get("model", {}))
        family = model.pop("family", "cnn")
        if family not in FAMILIES:
            raise ValueError(f"[model] family '{family}' is not one of {FAMILIES}")
        members = model.get("members", 1)
        if not isinstance(members, int) or isinstance(members, bool) or not 1 <= members <= MAX_MEMBERS:
            raise ValueError(f"[model] members = {members!r}: must be a whole number from 1 to {MAX_MEMBERS}")
        sizes = {k: v for k, v in model.items() if k in SIZES}  # the rest is checked as the network is built
        if not all(type(n) is int and 1 <= n <= MAX_SIZE for v in sizes.values() for n in (v if isinstance(v, list) else [v])):
            raise ValueError(f"[model] {sizes}: layer sizes must be whole numbers from 1 to {MAX_SIZE}")
        if members == 1:  # one network: the recipe as it was before members existed, so its runs stay its own
            model.pop("members", None)
        train = TrainConfig.from_dict(config.get("train", {}))
        if train.distill and members > 1:
            raise ValueError(f"train.distill = {train.distill} and model.members = {members}: a model of several "
                             "networks is not distilled; set one of them (train.distill = 0 or model.members = 1)")
        return cls(DataConfig.from_dict(config.get("data", {})), train, family, model)

    @property
    def members(self) -> int:
        """How many networks the model averages (train/ensemble.py); 1: one network."""
        return self.model.get("members", 1)

    def to_dict(self) -> dict:
        return {"data": asdict(self.data), "model": {"family": self.family, **self.model}, "train": asdict(self.train)}
