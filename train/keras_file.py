"""Keras model files: read only in the .keras zip format with safe_mode, after their config has been checked
against the layers `har train` builds (TensorFlow's HDF5 loader runs code stored in the file whatever
safe_mode says, and a Lambda or TFOpLambda layer runs code while the model loads), and written atomically.
TensorFlow is imported only once a file has passed those checks.
"""
from __future__ import annotations

import json
import tempfile
import zipfile
from pathlib import Path

from device_runtime.files import atomic_write

ZIP_MAGIC, HDF5_MAGIC = b"PK\x03\x04", b"\x89HDF\r\n\x1a\n"
MAX_KERAS_CONFIG = 16 << 20
# Every class a .keras config may name: the layers train/models.py builds, and the initializers, regularizers
# and optimizer they use. Anything else is refused before Keras reads it: Lambda carries Python code, and
# TFOpLambda calls any TensorFlow function named in the file (tf.io.gfile.rmtree, say) while the model loads.
KERAS_LAYERS = frozenset({
    "Activation", "Add", "Average", "AveragePooling2D", "BatchNormalization", "Concatenate", "Conv1D", "Conv2D",
    "Cropping1D", "Dense", "Dropout", "Flatten", "GlobalAveragePooling1D", "GlobalAveragePooling2D", "InputLayer",
    "LSTM", "MaxPooling1D", "MaxPooling2D", "ReLU", "Rescaling", "Reshape", "SeparableConv2D", "Functional",
    "Sequential"})
KERAS_OTHERS = frozenset({
    "Zeros", "Ones", "Constant", "GlorotUniform", "GlorotNormal", "HeNormal", "HeUniform", "Orthogonal",
    "RandomNormal", "RandomUniform", "TruncatedNormal", "VarianceScaling", "L1", "L2", "L1L2", "Adam",
    "CosineDecay"})
KERAS_MODULES = frozenset({"keras.layers", "keras.initializers", "keras.regularizers", "keras.optimizers",
                           "keras.optimizers.schedules", "tf_keras.src.engine.functional", "keras.src.engine.functional"})


class RunError(ValueError):
    """A run folder or model file that cannot be used as asked; the message says what to do."""


def load_keras(path: Path):
    """A Keras model from the .keras zip format only, with safe_mode and no Lambda layers."""
    check_keras_file(path)
    from train.models import keras

    try:
        return keras.models.load_model(path, safe_mode=True, compile=False)
    except Exception as error:  # whatever a damaged file raises inside Keras, the user gets one line
        raise RunError(f"{path}: cannot load the Keras model ({type(error).__name__}: {str(error)[:300]}); "
                       "retrain the run") from None


def check_keras_file(path: Path) -> None:
    """Refuse, before Keras sees it, anything but a .keras zip whose config has no code-carrying layer."""
    if not path.is_file():
        raise RunError(f"{path}: missing or not a file; retrain the run")
    with path.open("rb") as handle:
        head = handle.read(8)
    if head.startswith(HDF5_MAGIC):
        raise RunError(f"{path}: an HDF5 (legacy .h5) model; only the .keras zip format is loaded, because "
                       "TensorFlow's HDF5 loader runs code stored in the file. Retrain the run")
    if not head.startswith(ZIP_MAGIC):
        raise RunError(f"{path}: not a Keras model in the .keras zip format (damaged?); retrain the run")
    try:
        with zipfile.ZipFile(path) as archive:
            info = archive.getinfo("config.json")
            if info.file_size > MAX_KERAS_CONFIG:
                raise RunError(f"{path}: its config.json is implausibly large ({info.file_size:,} bytes)")
            config = json.loads(archive.read(info))
    except (zipfile.BadZipFile, KeyError, OSError, ValueError, RecursionError) as error:
        if isinstance(error, RunError):
            raise
        raise RunError(f"{path}: not a readable .keras model ({str(error)[:200]}); retrain the run") from None
    foreign = _foreign_classes(config)
    if foreign:
        raise RunError(f"{path}: holds {foreign[0]}, which `har train` never builds (a Lambda or TFOpLambda layer "
                       "runs code from the file); only the layers it builds are loaded")


def _foreign_classes(config: object) -> list[str]:
    """Class names, registered names and modules anywhere in a Keras config outside the allow-lists above
    (walked without recursion)."""
    found, stack = [], [config]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if "class_name" in node and node["class_name"] not in KERAS_LAYERS | KERAS_OTHERS:
                found.append(f"a {str(node['class_name'])[:60]!r} object")
            if node.get("registered_name") not in (None, node.get("class_name")):
                found.append(f"the registered name {str(node['registered_name'])[:60]!r}")
            if "module" in node and node["module"] not in KERAS_MODULES:
                found.append(f"the module {str(node['module'])[:60]!r}")
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found


def save_keras(model, path: Path) -> None:
    """Save atomically: Keras writes in place, so it saves into a private folder beside `path` and the bytes
    then replace `path` through atomic_write (fsync, rename, the umask's mode)."""
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=f".{path.name}.") as tmp:
        staged = Path(tmp) / path.name
        model.save(staged)
        atomic_write(path, staged.read_bytes())
