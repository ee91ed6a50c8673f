"""Shared fixtures, and the two test tiers.

`pytest -m "not slow"` is the fast tier: no TensorFlow, no training, seconds. Modules whose tests all need
TensorFlow say `pytestmark = pytest.mark.slow` and are then not even imported by the fast tier; the run
fails if anything imported TensorFlow anyway. `make test` runs both tiers.
"""
import os
import shutil
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_HAPT = REPO.parent / "shared" / "datasets" / "uci-hapt"
TINY_MODEL = REPO / "tests" / "fixtures" / "tiny_int8.tflite"  # made by tests/fixtures/make_tiny_model.py
TINY_FINE_MODEL = REPO / "tests" / "fixtures" / "tiny_fine_int8.tflite"  # the same, with the gyro's fine motion
TINY_VERTICAL_MODEL = REPO / "tests" / "fixtures" / "tiny_vertical_int8.tflite"  # and the vertical inputs
TINY_PAIR_MODEL = REPO / "tests" / "fixtures" / "tiny_pair_int8.tflite"  # tiny_int8's recipe, 2 networks averaged
sys.path.insert(0, str(REPO))


def _fast_tier(config) -> bool:
    return "not slow" in (config.getoption("markexpr") or "")


def pytest_ignore_collect(collection_path, config):
    """The fast tier skips whole-slow modules without importing them (their imports load TensorFlow)."""
    if _fast_tier(config) and collection_path.suffix == ".py" and collection_path.name.startswith("test_"):
        return "\npytestmark = pytest.mark.slow\n" in collection_path.read_text()
    return None


def pytest_sessionfinish(session, exitstatus):
    if _fast_tier(session.config) and "tensorflow" in sys.modules:
        print("\nthe fast tier imported TensorFlow: mark the test that needs it @pytest.mark.slow", file=sys.stderr)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(scope="session")
def hapt_test_raw(hapt_prepared):
    """(raw windows, labels) of the HAPT test subjects in a model's channel units, given its contract."""
    import numpy as np

    def raw(contract):
        test = hapt_prepared.splits["test"]
        mean, std = hapt_prepared.contract.norm_mean, hapt_prepared.contract.norm_std
        assert list(contract.channels) == list(hapt_prepared.contract.channels)
        return test.x * np.float32(std) + np.float32(mean), test.y

    return raw


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """A 4 KB int8 CNN with a real HAPT contract (79% on the test subjects), copied so tests may write
    beside it. For tests that need some valid model, not a good one: no training, no TensorFlow."""
    path = tmp_path_factory.mktemp("tiny") / "model.tflite"
    shutil.copyfile(TINY_MODEL, path)
    return path


@pytest.fixture(scope="session")
def tiny_fine_model(tmp_path_factory) -> Path:
    """tiny_model's twin that also takes the gyro's fine motion: 9 inputs per sample from 6 channels."""
    path = tmp_path_factory.mktemp("tiny_fine") / "model.tflite"
    shutil.copyfile(TINY_FINE_MODEL, path)
    return path


@pytest.fixture(scope="session")
def tiny_vertical_model(tmp_path_factory) -> Path:
    """tiny_fine_model's twin that also takes the accelerometer's vertical inputs: 11 inputs per sample."""
    path = tmp_path_factory.mktemp("tiny_vertical") / "model.tflite"
    shutil.copyfile(TINY_VERTICAL_MODEL, path)
    return path


@pytest.fixture(scope="session")
def tiny_pair_model(tmp_path_factory) -> Path:
    """tiny_model's recipe as two networks whose scores the model averages (model.members = 2)."""
    path = tmp_path_factory.mktemp("tiny_pair") / "model.tflite"
    shutil.copyfile(TINY_PAIR_MODEL, path)
    return path


@pytest.fixture(scope="session")
def hapt_loaded():
    """The embedded HAPT recordings, parsed once per session: (recordings, load report)."""
    from train.data.hapt import EMBEDDED_HAPT, load_hapt

    return load_hapt(EMBEDDED_HAPT)


@pytest.fixture(scope="session")
def hapt_prepared(hapt_loaded):
    """The default data preparation on the embedded HAPT recordings, shared by the tests that read it."""
    from train.data.dataset import DataConfig, prepare

    return prepare(DataConfig(), loaded=hapt_loaded)


def _train_default(tmp_path_factory, **model) -> Path:
    """configs/default.toml's recipe trained 2 epochs, with `model` settings changed."""
    from train.config import load_config
    from train.fit import RunConfig, train_run

    config = load_config(REPO / "configs" / "default.toml")
    config["train"].update(epochs=2, warmup_epochs=0)
    config["model"].update(model)
    return train_run(RunConfig.from_dict(config), "cnn", tmp_path_factory.mktemp("trained") / "runs")


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory) -> Path:
    """The one short real training (2 epochs) of the recipe in configs/default.toml that the slow tests
    share, so the conversion, Pi runtime and firmware tests run what `make model.tflite` ships."""
    return _train_default(tmp_path_factory)


@pytest.fixture(scope="session")
def trained_network(tmp_path_factory) -> Path:
    """That recipe as one network (model.members = 1), for what takes one network: --qat."""
    return _train_default(tmp_path_factory, members=1)


@pytest.fixture(scope="session")
def int8_model(trained_run, tmp_path_factory):
    """That run converted to a validated int8 .tflite: (run folder, model path, conversion report)."""
    from convert.pipeline import convert_run

    out = tmp_path_factory.mktemp("int8_model") / "model.tflite"
    return trained_run, out, convert_run(trained_run, out)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


class PtySensor:
    """A simulated serial sensor: a pseudo-terminal whose device path is a stable symlink, so it can be
    unplugged (both ends closed) and plugged in again as a new tty behind the same path."""

    def __init__(self, folder: Path):
        self.link = folder / "ttySENSOR"
        self.master = self.slave = None
        self.plug()

    def plug(self) -> None:
        self.master, self.slave = os.openpty()
        tmp = self.link.with_name("link.tmp")
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(os.ttyname(self.slave))
        os.replace(tmp, self.link)

    def unplug(self) -> None:
        os.close(self.master)
        os.close(self.slave)

    def write(self, data: bytes) -> None:
        os.write(self.master, data)


def require(ok: bool, missing: str) -> None:
    """Skip a test whose tool is missing here, but fail it under CI, which installs every tool (.ci/run)."""
    if not ok:
        (pytest.fail if os.environ.get("CI") else pytest.skip)(f"missing {missing}")
