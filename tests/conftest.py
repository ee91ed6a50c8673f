import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_HAPT = REPO.parent / "shared" / "datasets" / "uci-hapt"
sys.path.insert(0, str(REPO))


@pytest.fixture(scope="session")
def hapt_prepared():
    """The default data preparation on the embedded HAPT recordings, shared by the tests that read it."""
    from train.dataset import DataConfig, prepare

    return prepare(DataConfig())


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path
