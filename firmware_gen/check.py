"""`har firmware --check`: build what was generated and prove it computes what Python computes.

Host (g++, reference kernels) and Cortex-M4 (CMSIS-NN, under QEMU) builds classify every test window of the
model's data; their int8 scores are compared with the Python TFLM interpreter's. The generated main.cc,
fed a whole test recording sample by sample, must print what the Pi runtime's windowing and smoothing print
when fed TFLM's scores (for a regression model: the same values, to the three decimals the C prints); its
agreement with the Pi runtime itself, on LiteRT, is reported beside.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np

from convert.flatbuffer import ops_of
from convert.tflm_probe import run_tflm
from device_runtime import preprocess
from device_runtime.contract import Contract, load_contract
from device_runtime.files import atomic_write
from device_runtime.smoothing import make_smoother, make_value_smoother
from device_runtime.stream import WindowStream
from firmware_gen import tflm_build
from firmware_gen.c_values import CToken
from firmware_gen.generate import FirmwareError, environment
from firmware_gen.tflm_build import Target

M4_CHECK = Target("m4", "cmsis-nn", "-Os")
HOST = Target("host", "reference", "-O2")
SCORES = re.compile(r"^scores ((?:-?\d+ ?)+) ticks (\d+)$")
QEMU_SECONDS_PER_WINDOW = 2.0  # generous: a CMSIS-NN window is about 0.05 s of emulation, reference about 1 s


def model_test_data(contract: Contract, data: str | None, data_format: str) -> tuple[np.ndarray, np.ndarray, str]:
    """The model's test windows (int8, as the model takes them) and one whole test recording (raw samples).

    The only place this package touches the training code: the split is the one training used."""
    from train.data.dataset import DataConfig, load_recordings, prepare, target_options

    config = DataConfig(path=data, format=data_format, window=contract.window, stride=contract.stride,
                        min_purity=contract.min_purity, allow_unlabelled=contract.allow_unlabelled,
                        **target_options(contract))
    loaded = load_recordings(config)
    test = prepare(config, contract, loaded).splits["test"]
    q = contract.quantization
    windows = preprocess.quantize(test.x, q["input_scale"], q["input_zero_point"])
    subjects = set(test.subjects.tolist())
    recording = next((r for r in loaded[0] if r.subject in subjects and not np.isnan(r.samples).any()), None)
    if recording is None:
        raise FirmwareError(f"{data or 'the data'}: no test recording without missing values to stream")
    return windows, recording.samples.astype(np.float32), f"{recording.source} (subject {recording.subject})"


def app_sources(out: Path, build: Path, prefix: str, kind: str) -> list[Path]:
    """The generated library, plus main.cc ("main") or the check harness rendered into `build` ("check")."""
    files = "" if prefix == "har" else f"{prefix}_"
    library = [out / f"{files}model_data.cc", out / f"{prefix}_classifier.cc", out / f"{prefix}_stream.c"]
    if kind == "main":
        return library + [out / f"{files}main.cc"]
    harness = build / "check_main.cc"
    build.mkdir(parents=True, exist_ok=True)
    values = {"prefix": CToken(prefix), "PREFIX": CToken(prefix.upper())}
    harness.write_text(environment().get_template("check/check_main.cc.j2").render(values))
    return library + [harness]


def build_app(out: Path, prefix: str, target: Target, tflm: Path, ops: list[str], kind: str = "check",
              arena: int | None = None) -> Path:
    """Compile and link the app in out/build/KIND-TARGET/ (the third-party objects come from the cache), with
    the generated arena size or, given `arena`, a build's own (-DPREFIX_TENSOR_ARENA_SIZE)."""
    build = out / "build" / (f"{kind}-{target.name}-{target.kernels}{target.optimisation}" + (f"-arena{arena}" if arena else ""))
    defines = (("-DHAR_CHECK_M4",) if target.name == "m4" else ()) + (
        (f"-D{prefix.upper()}_TENSOR_ARENA_SIZE={arena}",) if arena else ())
    return tflm_build.build(out, app_sources(out, build, prefix, kind), build, target, tflm, ops, defines)


def run_windows(exe: Path, target: Target, windows: np.ndarray) -> dict:
    """Classify `windows` with the check harness: int8 scores, instructions per inference, arena used."""
    atomic_write(exe.parent / "windows.bin", np.ascontiguousarray(windows, np.int8).tobytes())
    if target.name == "m4":
        text = tflm_build.run_m4(exe, exe.parent, timeout=60 + QEMU_SECONDS_PER_WINDOW * len(windows))
    else:
        text = tflm_build.run([exe], cwd=exe.parent)
    scores, ticks, per_tick, arena_used = [], [], None, None
    for line in text.splitlines():
        if match := SCORES.match(line):
            scores.append([int(v) for v in match.group(1).split()])
            ticks.append(int(match.group(2)))
        elif line.startswith("calibration "):
            instructions, spent = map(int, line.split()[1:])
            per_tick = instructions / spent if spent else None
        elif line.startswith("arena_used "):
            arena_used = int(line.split()[1])
    if len(scores) != len(windows) or arena_used is None:
        raise tflm_build.BuildError(f"{exe} classified {len(scores)} of {len(windows)} windows:\n{text[-2000:]}")
    instructions = round(float(np.mean(ticks)) * round(per_tick)) if per_tick else None
    return {"scores": np.array(scores), "instructions_per_inference": instructions, "arena_used_bytes": arena_used}


def agreement(scores: np.ndarray, expected: np.ndarray) -> dict:
    """How a C build's int8 scores compare with the Python TFLM interpreter's."""
    diff = np.abs(scores.astype(np.int64) - expected.astype(np.int64))
    same = scores.argmax(axis=1) == expected.argmax(axis=1)
    return {"windows": int(len(scores)), "argmax_agreement": float(same.mean()), "max_lsb": int(diff.max(initial=0))}


def stream_check(exe: Path, model: Path, samples: np.ndarray, rate_hz: float, contract: Contract) -> dict:
    """main.cc on one whole recording, sample by sample, against the Pi runtime's stream logic (its windowing
    and default smoothing) fed the Python TFLM interpreter's scores: the predictions must be the same. The
    Pi runtime itself (`python -m device_runtime --replay`, LiteRT) is reported beside: LiteRT's reference
    kernels round some outputs an LSB or more away from TFLM's, which can flip a near tie."""
    csv = exe.parent / "recording.csv"
    rows = [",".join(["timestamp_ms", *contract.channels])]
    rows += [f"{i * 1000.0 / rate_hz:.3f}," + ",".join(f"{v:.9g}" for v in row) for i, row in enumerate(samples)]
    atomic_write(csv, "\n".join(rows) + "\n")
    with open(csv, "rb") as stdin:
        ours = [json.loads(line) for line in tflm_build.run([exe], cwd=exe.parent, stdin=stdin).splitlines()]
    python = subprocess.run([sys.executable, "-m", "device_runtime", "--model", str(model), "--replay", str(csv)],
                            capture_output=True, text=True, timeout=900, cwd=Path(__file__).resolve().parent.parent)
    expected = tflm_stream(model, samples, rate_hz, contract)
    report = {"predictions": len(expected), "agreement": _share_same(ours, expected, 0.0), "pi_litert_agreement": None}
    if python.returncode != 0:  # beside the check, not part of it (no LiteRT here, say)
        report["pi_litert_error"] = " ".join(python.stderr.split())[-300:]
        return report
    pi = [json.loads(line) for line in python.stdout.splitlines() if line.startswith("{")]
    lsb = contract.quantization["output_scale"] * (contract.target or {"scale": 1.0})["scale"]
    return report | {"pi_litert_agreement": _share_same(ours, pi, lsb)}


class _Scores:
    """A stand-in for the runtime's Classifier of an int8 model (the only kind firmware is made for): keeps
    each window's model input (first pass) or hands back the given outputs in order (second pass), so the
    runtime's own WindowStream decides which windows."""

    def __init__(self, contract: Contract, outputs: np.ndarray | None = None):
        self.contract, self.outputs, self.inputs = contract, outputs, []

    def __call__(self, raw_window: np.ndarray) -> tuple[np.ndarray, float]:
        q = self.contract.quantization
        if self.outputs is None:
            self.inputs.append(preprocess.quantize(self.contract.normalise(raw_window), q["input_scale"],
                                                   q["input_zero_point"]))
            return np.zeros(len(self.contract.class_names), np.float32), 0.0
        out = self.outputs[len(self.inputs)]
        self.inputs.append(None)
        return preprocess.dequantize(out, q["output_scale"], q["output_zero_point"]), 0.0


def tflm_stream(model: Path, samples: np.ndarray, rate_hz: float, contract: Contract) -> list[dict]:
    """The predictions the Pi runtime would print for `samples` if its interpreter were TFLM's."""
    def replay(classify: _Scores) -> list[dict]:
        smoother = make_value_smoother("mean") if contract.task == "regression" else make_smoother("vote")
        stream = WindowStream(classify, contract, smoother)
        moments = (stream.push(float(f"{i * 1000.0 / rate_hz:.3f}"), s) for i, s in enumerate(samples))
        return [m for m in moments if m is not None]

    first = _Scores(contract)
    replay(first)
    outputs, _, why = run_tflm(model, np.array(first.inputs), 1 << 20)
    if outputs is None:
        raise tflm_build.BuildError(f"the Python TFLM interpreter cannot run {model}: {why}")
    return replay(_Scores(contract, outputs))


def _share_same(c_lines: list[dict], python: list[dict], lsb: float) -> float:
    same = sum(_same_prediction(a, b, lsb) for a, b in zip(c_lines, python))
    return same / max(len(c_lines), len(python), 1)


def _same_prediction(c: dict, python: dict, lsb: float) -> bool:
    """The same class; or, for regression, the same unit and values within the C's printed 3 decimals plus
    `lsb` (one output LSB in the target's unit against LiteRT, none against TFLM)."""
    if "value" not in python:
        return c["class"] == python["class"]
    return c["unit"] == python["unit"] and all(abs(c[k] - python[k]) <= lsb + 6e-4 for k in ("value", "window_value"))


def refuse_links(out: Path) -> None:
    """The check writes out/build/ and the reports: a link there or anywhere under build/ (it would take the
    compiler's output elsewhere), or a folder where a report goes, is refused before anything is built."""
    build, reports = out / "build", [out / "firmware.report.json", out / "firmware.report.md"]
    links = [path for path in (build, *reports) if path.is_symlink()]
    if build.is_dir() and not build.is_symlink():
        for folder, names, files in os.walk(build):
            links += [Path(folder) / n for n in names + files if (Path(folder) / n).is_symlink()]
    if links:
        raise FirmwareError(f"--out {out}: {links[0].relative_to(out)} is a link; --check writes nothing through "
                            "it: remove it, or choose another --out")
    in_the_way = [p for p in reports if p.exists() and not p.is_file()] + [build] * (build.exists() and not build.is_dir())
    if in_the_way:
        raise FirmwareError(f"--out {out}: {in_the_way[0].name} is in the way of what --check writes; move it")


def check(model: Path, out: Path, prefix: str, tflm: Path, data: str | None, data_format: str,
          m4_windows: int | None = None) -> dict:
    """Build, run and compare; the report (also written to out/firmware.report.json and .md)."""
    refuse_links(out)
    contract = load_contract(model)
    ops = ops_of(model.read_bytes())
    windows, recording, recording_name = model_test_data(contract, data, data_format)
    expected, _, why = run_tflm(model, windows, 1 << 20)
    if expected is None:
        raise tflm_build.BuildError(f"the Python TFLM interpreter cannot run {model}: {why}")
    host = run_windows(build_app(out, prefix, HOST, tflm, ops), HOST, windows)
    subset = slice(None) if m4_windows is None else np.linspace(0, len(windows) - 1, m4_windows).astype(int)
    elf = build_app(out, prefix, M4_CHECK, tflm, ops)
    m4 = run_windows(elf, M4_CHECK, windows[subset])
    main = build_app(out, prefix, HOST, tflm, ops, kind="main")
    fits = tight_arena(m4["arena_used_bytes"])
    tight = run_windows(build_app(out, prefix, M4_CHECK, tflm, ops, arena=fits), M4_CHECK, windows[subset][:2])
    report = {
        "host": agreement(host["scores"], expected),
        "m4": {"kernels": M4_CHECK.kernels, "optimisation": M4_CHECK.optimisation,
               **agreement(m4["scores"], expected[subset]),
               "instructions_per_inference": m4["instructions_per_inference"], **tflm_build.section_sizes(elf),
               "arena_used_bytes": m4["arena_used_bytes"], "arena_bytes": arena_bytes(out, prefix),
               # the smaller arena a build for this core and these kernels may define, run on two windows
               "arena_fits_bytes": fits if np.array_equal(tight["scores"], m4["scores"][:2]) else None},
        "stream": stream_check(main, model, recording, contract.sample_rate_hz, contract),
    }
    atomic_write(out / "firmware.report.json", json.dumps(report, indent=2) + "\n")
    atomic_write(out / "firmware.report.md", markdown(report, model, recording_name, prefix))
    return report


def tight_arena(used: int) -> int:
    """The arena a build for one core and one set of kernels may define: 10% over what it used, in 16-byte steps."""
    return -(-used * 11 // 160) * 16


def arena_bytes(out: Path, prefix: str) -> int:
    settings = (out / f"{'' if prefix == 'har' else prefix + '_'}model_settings.h").read_text()
    return int(re.search(rf"#define {prefix.upper()}_TENSOR_ARENA_SIZE (\d+)", settings).group(1))


def passed(report: dict) -> bool:
    """Bit-exact on every window, the same smoothed classes, and the arena big enough."""
    exact = all(report[k]["argmax_agreement"] == 1.0 and report[k]["max_lsb"] == 0 for k in ("host", "m4"))
    return exact and report["stream"]["agreement"] == 1.0 and report["m4"]["arena_used_bytes"] <= report["m4"]["arena_bytes"]


def markdown(report: dict, model: Path, recording: str, prefix: str = "har") -> str:
    host, m4, stream = report["host"], report["m4"], report["stream"]
    return "\n".join([
        f"# Firmware check of {model.name}",
        "",
        "| build | windows | argmax agreement | max LSB |",
        "|---|---|---|---|",
        f"| host g++, reference kernels | {host['windows']} | {host['argmax_agreement']:.2%} | {host['max_lsb']} |",
        f"| Cortex-M4 (QEMU mps2-an386), {m4['kernels']} {m4['optimisation']} | {m4['windows']} | "
        f"{m4['argmax_agreement']:.2%} | {m4['max_lsb']} |",
        "",
        "Compared with the Python TFLM interpreter on the model's test windows (int8 scores).",
        "",
        f"Cortex-M4: {m4['instructions_per_inference'] / 1e6:.2f} M instructions per inference (SysTick under "
        f"`-icount shift=0`); text {m4['text_bytes']:,} B, data {m4['data_bytes']:,} B, bss {m4['bss_bytes']:,} B; "
        f"arena used {m4['arena_used_bytes']:,} of {m4['arena_bytes']:,} B"
        + (f"; a build for this core and these kernels may define a smaller one and gave the same scores on the "
           f"M4 with `-D{prefix.upper()}_TENSOR_ARENA_SIZE={m4['arena_fits_bytes']}`." if m4.get("arena_fits_bytes") else "."),
        "",
        f"Stream: main.cc fed {recording} sample by sample gave {stream['predictions']} predictions, "
        f"{stream['agreement']:.2%} the same as the Pi runtime's windowing and smoothing fed TFLM's scores; "
        + (f"{stream['pi_litert_agreement']:.2%} the same as `python -m device_runtime --replay` (LiteRT, whose "
           "kernels are not bit-exact with TFLM's)." if stream["pi_litert_agreement"] is not None else
           f"`python -m device_runtime --replay` did not run: {stream.get('pi_litert_error')}"),
        "",
    ])
