"""The `har firmware` subcommand: generate the sources, and with --check build and verify them.

Imports no TensorFlow: generating needs only the model file and the `tflite-micro` package; --check also
reads the model's test data through the training code.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

from firmware_gen.generate import FirmwareError

REPO = Path(__file__).resolve().parent.parent
DEFAULT_TFLM = REPO.parent / "shared" / "vendor" / "tflite-micro"
TOOLS = {"g++": "g++", "arm-none-eabi-g++": "gcc-arm-none-eabi libnewlib-arm-none-eabi libstdc++-arm-none-eabi-newlib",
         "arm-none-eabi-size": "binutils-arm-none-eabi", "qemu-system-arm": "qemu-system-arm"}


def register(stages: argparse._SubParsersAction) -> None:
    firmware = stages.add_parser(
        "firmware",
        help="generate TFLM C/C++ sources from a .tflite (and, with --check, build and verify them)",
        description="Render C/C++ sources for TensorFlow Lite Micro from an int8 .tflite made by `har convert`: "
        "model_data.h/.cc, model_settings.h (the model's contract), op_resolver.h, the classifier library "
        "(har_classifier.h/.cc, har_stream.h/.c), har_board.h and main.cc, and an Arduino library in arduino/. "
        "With --check: build them on this host and for a Cortex-M4 (QEMU), compare every test window with the "
        "Python TFLM interpreter, replay a test recording against the Pi runtime, and write "
        "firmware.report.json/.md.",
    )
    firmware.add_argument("model", help="the .tflite (with its embedded contract)")
    firmware.add_argument("--out", default="firmware", help="output folder (default firmware/)")
    firmware.add_argument("--prefix", default="har", help="prefix of every C symbol and macro (and file name, "
                          "if not 'har'), so two models can live in one firmware (default har)")
    firmware.add_argument("--tflm", help="TensorFlow Lite Micro tree for --check (default $TFLM_ROOT, else "
                          f"{DEFAULT_TFLM} when it exists; see firmware_gen/README.md)")
    firmware.add_argument("--check", action="store_true", help="build, run and compare (needs g++, "
                          "gcc-arm-none-eabi and qemu-system-arm)")
    firmware.add_argument("--data", help="test data for --check (default: the embedded HAPT recordings)")
    firmware.add_argument("--format", default="hapt", help="format of --data: hapt, csv, wisdm, pamap2")
    firmware.add_argument("--m4-windows", type=int, metavar="N",
                          help="run only N evenly spread test windows on the emulated Cortex-M4 (default: all)")
    firmware.set_defaults(func=cmd_firmware)


def tflm_root(option: str | None) -> Path:
    """--tflm, else TFLM_ROOT, else the vendored tree beside the repository; a clear error otherwise."""
    given = option or os.environ.get("TFLM_ROOT")
    candidates = [Path(given)] if given else [DEFAULT_TFLM]
    for root in candidates:
        if (root / "tflm" / "tensorflow" / "lite" / "micro").is_dir():
            return root.resolve()
    source = f"--tflm {option}" if option else (f"TFLM_ROOT={given}" if given else "neither --tflm nor TFLM_ROOT is set")
    raise FirmwareError(f"no TensorFlow Lite Micro tree: {source}, and {DEFAULT_TFLM} "
                        f"{'is not used' if given else 'does not exist'}; a tree has tflm/tensorflow/lite/micro "
                        "(and cmsis-nn/, cmsis/): see firmware_gen/README.md")


def build_tools(tflm_option: str | None, needed_by: str) -> Path:
    """The TFLM tree, once every compiler and the emulator that builds and runs against it are here."""
    tflm = tflm_root(tflm_option)
    missing = [f"{tool} (apt-get install {package})" for tool, package in TOOLS.items() if not shutil.which(tool)]
    if missing:
        raise FirmwareError(f"{needed_by} needs " + ", ".join(missing))
    return tflm


def cmd_firmware(args: argparse.Namespace) -> int:
    from firmware_gen.generate import generate

    if Path(args.out).is_symlink():
        raise FirmwareError(f"--out {args.out}: is a link; nothing is written through it: give the folder itself")
    model, out = Path(args.model).resolve(), Path(args.out).resolve()  # before anything runs elsewhere
    if not model.is_file():
        raise FirmwareError(f"{args.model}: no such model file")
    data = str(Path(args.data).resolve()) if args.data else None
    if args.m4_windows is not None and args.m4_windows < 1:
        raise FirmwareError(f"--m4-windows {args.m4_windows}: give at least 1")
    tflm = build_tools(args.tflm, "--check") if args.check else None
    if args.check:
        from firmware_gen.check import refuse_links

        refuse_links(out)  # before the sources are written
    for path in generate(model, out, args.prefix):
        print(path)
    if not args.check:
        return 0
    from firmware_gen.check import check, passed
    from firmware_gen.tflm_build import BuildError

    try:
        report = check(model, out, args.prefix, tflm, data, args.format, args.m4_windows)
    except BuildError as error:
        print(f"har firmware: check failed: {error}", file=sys.stderr)
        return 1
    print((out / "firmware.report.md").read_text())
    return 0 if passed(report) else 1
