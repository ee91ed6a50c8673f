import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_HAPT = REPO.parent / "shared" / "datasets" / "uci-hapt"
sys.path.insert(0, str(REPO))


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


@pytest.fixture(scope="session")
def int8_model(tmp_path_factory):
    """A short real training of the default CNN (2 epochs) converted to a validated int8 .tflite:
    (run folder, model path, conversion report)."""
    from convert.pipeline import convert_run
    from train.fit import RunConfig, train_run

    root = tmp_path_factory.mktemp("int8_model")
    config = {"train": {"epochs": 2, "warmup_epochs": 0}}
    run = train_run(RunConfig.from_dict(config), "cnn", root / "runs")
    out = root / "model.tflite"
    return run, out, convert_run(run, out)


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
