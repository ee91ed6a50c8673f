"""UCI HAPT raw layout: RawData/acc_expXX_userYY.txt, gyro_..., labels.txt, and activity_labels.txt.

Read from the unpacked folder or from a .tar.xz of that folder (the embedded default), with the same code.
"""
from __future__ import annotations

import hashlib
import io
import lzma
import re
import tarfile
from pathlib import Path
from typing import BinaryIO

import numpy as np

from device_runtime.model_file import read_small_text
from train.data.recording import UNLABELLED, DataError, LoadReport, Recording, finite_float32

EMBEDDED_HAPT = Path(__file__).resolve().parents[2] / "data" / "uci-hapt.tar.xz"
SAMPLE_RATE_HZ = 50.0
CHANNELS = ("acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z")
UNITS = ("g", "g", "g", "rad/s", "rad/s", "rad/s")
# Bounds for reading an archive: all of HAPT is 126 MB, its largest file 1.8 MB; xz -9 needs 65 MiB.
MAX_ARCHIVE_BYTES = 1 << 30
MAX_MEMBER_BYTES = 64 << 20
XZ_MEMORY_LIMIT = 256 << 20
FILE_RE = re.compile(r"RawData/(acc|gyro)_exp(\d+)_user(\d+)\.txt$")

# The UCI HAR official split holds out these users as the test set.
UCI_HAR_TEST_SUBJECTS = ("2", "4", "9", "10", "12", "13", "18", "20", "24")
# Validation users fixed once (5, 15, 25: one per ten users), so figures compare across runs and recipes.
VALIDATION_SUBJECTS = ("5", "15", "25")
DAILY_ACTIVITIES = ("WALKING", "WALKING_UPSTAIRS", "WALKING_DOWNSTAIRS", "SITTING", "STANDING", "LAYING")


def _wanted(name: str) -> bool:
    return name in ("activity_labels.txt", "RawData/labels.txt") or FILE_RE.search(name) is not None


def _read_files(path: Path) -> dict[str, bytes]:
    """The layout's files, keyed by their path relative to the dataset root (other files are not read)."""
    if path.is_dir():
        files = (p for p in path.rglob("*") if p.is_file() and _wanted(p.relative_to(path).as_posix()))
        return {p.relative_to(path).as_posix(): p.read_bytes() for p in files}
    if path.is_file() and path.name.endswith(".tar.xz"):
        _verify_archive(path)
        return _read_archive(path)
    raise DataError(str(path), "is not a HAPT folder or .tar.xz archive (--format hapt)")


def _read_archive(path: Path) -> dict[str, bytes]:
    """The layout's files from a .tar.xz, streamed: a corrupt or hostile archive is refused naming it,
    before it can ask for more memory or output than the whole dataset needs."""
    files, declared = {}, 0
    try:
        with open(path, "rb") as raw, tarfile.open(fileobj=io.BufferedReader(_BoundedXz(raw, path)), mode="r|") as tar:
            for member in tar:
                declared += member.size
                if member.size > MAX_MEMBER_BYTES or declared > MAX_ARCHIVE_BYTES:
                    raise DataError(f"{path}: {member.name}", f"declares {member.size:,} bytes ({declared:,} so far); "
                                    "larger than any HAPT file: a damaged or foreign archive")
                if member.isfile() and _wanted(member.name):
                    files[member.name] = tar.extractfile(member).read()
    except (tarfile.TarError, lzma.LZMAError, EOFError) as error:
        raise DataError(str(path), f"not a readable .tar.xz archive: {error}") from None
    return files


class _BoundedXz(io.RawIOBase):
    """An .xz stream decompressed under a memory limit and a cap on its total output."""

    def __init__(self, raw: BinaryIO, path: Path):
        self.raw, self.path, self.produced = raw, path, 0
        self.xz = lzma.LZMADecompressor(memlimit=XZ_MEMORY_LIMIT)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = b""
        while not data and not self.xz.eof:
            chunk = self.raw.read(1 << 16) if self.xz.needs_input else b""
            if self.xz.needs_input and not chunk:
                raise EOFError("compressed data ends before the end-of-stream marker (truncated?)")
            data = self.xz.decompress(chunk, max_length=len(buffer))
        self.produced += len(data)
        if self.produced > MAX_ARCHIVE_BYTES:
            raise DataError(str(self.path), f"decompresses to more than {MAX_ARCHIVE_BYTES:,} bytes: "
                            "not the HAPT archive")
        buffer[: len(data)] = data
        return len(data)


def _verify_archive(path: Path) -> None:
    """Check the archive against the checksum shipped beside it, so a damaged copy never trains a model."""
    sums = path.with_name(path.name + ".sha256")
    if not sums.exists():
        return
    words = read_small_text(sums).split()
    if not words or len(words[0]) != 64:
        raise DataError(str(sums), "not a SHA-256 checksum file (64 hex digits, then the file name)")
    expected = words[0]
    actual = hashlib.sha256(path.read_bytes()).hexdigest()
    if actual != expected:
        raise DataError(str(path), f"SHA-256 is {actual}, expected {expected} from {sums.name}; the copy is damaged")


def _parse_matrix(data: bytes, source: str, columns: int) -> np.ndarray:
    """Whitespace-separated numbers, `columns` per line, finite as float32; any defect names its line."""
    lines = data.decode("utf-8", "replace").splitlines()
    try:
        matrix = np.array(data.split(), dtype=np.float64).reshape(len(lines), columns)
    except ValueError:
        _find_bad_field(lines, source, columns)
        raise DataError(source, "unreadable matrix") from None
    fields = [f"column {c + 1}" for c in range(columns)]
    return finite_float32(matrix, source, fields, np.arange(1, len(lines) + 1))[0]


def _find_bad_field(lines: list[str], source: str, columns: int) -> None:
    for number, line in enumerate(lines, start=1):
        fields = line.split()
        if len(fields) != columns:
            raise DataError(source, f"{len(fields)} fields, expected {columns}", line=number)
        for col, text in enumerate(fields):
            try:
                float(text)
            except ValueError:
                raise DataError(source, f"'{text}' is not a number", line=number, field=f"column {col + 1}") from None


def _parse_activity_names(data: bytes, source: str) -> dict[int, str]:
    names = {}
    for number, line in enumerate(data.decode("utf-8", "replace").splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or not parts[0].isdigit():
            raise DataError(source, "expected 'id NAME'", line=number)
        names[int(parts[0])] = parts[1]
    return names


def load_hapt(path: str | Path) -> tuple[list[Recording], LoadReport]:
    """One Recording per experiment (acc and gyro joined), labelled from labels.txt segments."""
    path = Path(path)
    files = _read_files(path)
    report = LoadReport()
    for required in ("activity_labels.txt", "RawData/labels.txt"):
        if required not in files:
            raise DataError(str(path), f"missing {required}")
    activity_names = _parse_activity_names(files["activity_labels.txt"], f"{path}/activity_labels.txt")
    label_names = tuple(activity_names[i] for i in sorted(activity_names))
    label_of_activity = {a: i for i, a in enumerate(sorted(activity_names))}

    experiments: dict[int, dict] = {}
    for name, data in files.items():
        match = FILE_RE.search(name)
        if match:
            sensor, exp, user = match.group(1), int(match.group(2)), str(int(match.group(3)))
            experiments.setdefault(exp, {"user": user})[sensor] = _parse_matrix(data, f"{path}/{name}", 3)
    if not experiments:
        raise DataError(str(path), "no RawData/acc_expXX_userYY.txt files: empty dataset")

    labels = {exp: np.full(len(e.get("acc", ())), UNLABELLED, np.int16) for exp, e in experiments.items()}
    segments_source = f"{path}/RawData/labels.txt"
    segments = _parse_matrix(files["RawData/labels.txt"], segments_source, 5).astype(np.int64)
    for number, (exp, user, activity, start, end) in enumerate(segments, start=1):
        if exp not in experiments or experiments[exp]["user"] != str(user):
            raise DataError(segments_source, f"experiment {exp} of user {user} has no data files", line=number)
        if activity not in label_of_activity:
            raise DataError(segments_source, f"unknown activity id {activity}", line=number, field="activity")
        if not 1 <= start <= end <= len(labels[exp]):
            raise DataError(segments_source, f"segment {start}-{end} outside 1-{len(labels[exp])}", line=number)
        labels[exp][start - 1 : end] = label_of_activity[activity]  # 1-based, inclusive

    recordings = []
    for exp in sorted(experiments):
        e = experiments[exp]
        source = f"{path}/RawData/*_exp{exp:02d}_user{int(e['user']):02d}.txt"
        if "acc" not in e or "gyro" not in e:
            raise DataError(source, "needs both an acc and a gyro file")
        if len(e["acc"]) != len(e["gyro"]):
            raise DataError(source, f"acc has {len(e['acc'])} rows but gyro has {len(e['gyro'])}")
        report.rows_read += len(e["acc"])
        recordings.append(
            Recording(
                source=source,
                subject=e["user"],
                sample_rate_hz=SAMPLE_RATE_HZ,
                channels=CHANNELS,
                units=UNITS,
                samples=np.hstack([e["acc"], e["gyro"]]),
                labels=labels[exp],
                label_names=label_names,
            )
        )
    report.notes.append(f"{len(recordings)} experiments, {len(segments)} labelled segments")
    return recordings, report
