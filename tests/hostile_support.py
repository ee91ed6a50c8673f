"""What the hostile-input tests of the run folder, training, evaluation and conversion share: the `har`
fixture (the real command in-process, from a working directory inside tmp_path, checked for tracebacks),
a guard that nothing outside the intended output changed, and run folders crafted by hand (no TensorFlow).
"""
import contextlib
import json
import shutil
from pathlib import Path

import pytest
from conftest import TINY_MODEL

from device_runtime.contract import contract_from_model
from har import main
from train.run import MARKER
from train.run_config import RunConfig

CLASSES = ["WALKING", "WALKING_UPSTAIRS", "WALKING_DOWNSTAIRS", "SITTING", "STANDING", "LAYING"]
TINY_RUN = {"model": {"family": "mlp", "units": [16]}, "train": {"epochs": 1, "warmup_epochs": 0},
            "data": {"test_subjects": ["2", "4", "9"]}}


def snapshot(root: Path) -> dict[str, object]:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) if p.is_file() else "dir"
            for p in root.rglob("*")}


@contextlib.contextmanager
def only_changes(root: Path, *allowed: str):
    """Fail if anything under `root` outside the `allowed` relative paths was created, changed or deleted."""
    before = snapshot(root)
    yield
    after = snapshot(root)
    changed = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
    stray = sorted(k for k in changed if not any(k == a or k.startswith(a + "/") for a in allowed))
    assert not stray, f"written or deleted outside the intended output: {stray}"


@pytest.fixture
def har(tmp_path, monkeypatch, capsys):
    """`har ARGS` from tmp_path/cwd: (exit status, stderr), checked for tracebacks."""
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")

    def run(*args) -> tuple[int, str]:
        try:
            status = main([str(a) for a in args])
        except SystemExit as exit_:  # argparse's own refusals
            status = exit_.code
        out = capsys.readouterr()
        assert "Traceback" not in out.err + out.out
        return status, out.err

    return run


def crafted_run(folder: Path, **replace: bytes | str) -> Path:
    """A finished-looking run folder made without TensorFlow: a real config and contract, a placeholder
    model; `replace` maps file names to other content (None: leave the file out)."""
    folder.mkdir(parents=True)
    contract = contract_from_model(TINY_MODEL.read_bytes()).with_quantization(None)
    files = {
        MARKER: "", "config.json": json.dumps(RunConfig.from_dict(TINY_RUN).to_dict()),
        "contract.json": contract.to_json(), "model.keras": b"PK\x03\x04 not really a zip",
        "training.json": json.dumps({"fit_seconds": 1.0, "best_epoch": 1, "epochs": 1, "final_model": "last"}),
    }
    files.update(replace)
    for name, content in files.items():
        if content is None:
            continue
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return folder


def hdf5_with_lambda(path: Path, creates: Path) -> None:
    """An HDF5 'model.keras' laid out like tf_keras's legacy format, with a Lambda layer whose code would
    create `creates` (made by h5py alone; the slow case below uses TensorFlow's own writer)."""
    import base64
    import marshal

    import h5py

    code = compile(f"lambda x: (open({str(creates)!r}, 'w').write('ran'), x)[1]", "<lambda>", "eval").co_consts[0]
    layer = {"class_name": "Lambda", "config": {"name": "evil", "function": [base64.b64encode(marshal.dumps(code)).decode(),
                                                                          None, None], "function_type": "lambda"}}
    config = {"class_name": "Sequential", "config": {"name": "m", "layers": [layer]}}
    with h5py.File(path, "w") as f:
        f.attrs["model_config"] = json.dumps(config)
        f.attrs["keras_version"] = "2.21.0"
        f.attrs["backend"] = "tensorflow"
        f.create_group("model_weights")


def zip_with_lambda(path: Path) -> None:
    zip_without_code(path, [{"class_name": "Lambda", "config": {"function": "x"}}])


def zip_without_code(path: Path, layers: list | None = None) -> None:
    """A .keras zip whose config passes the pre-load checks (it holds `layers`)."""
    import zipfile

    config = {"class_name": "Functional", "config": {"layers": layers or []}}
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", json.dumps(config))
        archive.writestr("metadata.json", "{}")


def copy_run(trained: Path, tmp_path: Path, where: str = "run") -> Path:
    """A private copy of the shared run, so a case may change it."""
    return Path(shutil.copytree(trained, tmp_path / where, symlinks=True))
