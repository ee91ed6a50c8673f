"""`har firmware`: its options and what it runs."""
from __future__ import annotations

import argparse
import sys


def cmd_firmware(args: argparse.Namespace) -> int:
    from firmware_gen.generate import FirmwareError, generate

    try:
        written = generate(args.model, args.out, args.prefix)
    except FirmwareError as error:
        print(f"har firmware: {error}", file=sys.stderr)
        return 1
    for path in written:
        print(path)
    return 0


def register(stages) -> None:
    """Add this stage's subcommand to har's parser."""
    firmware = stages.add_parser(
        "firmware",
        help="generate TFLM C/C++ sources from a .tflite",
        description="Render C/C++ sources for TensorFlow Lite Micro from an int8 .tflite made by `har convert`: "
        "model_data.h/.cc (the model as an aligned const array), model_settings.h (classes, window, stride, "
        "rate, channels, normalisation, int8 scale/zero-point, tensor arena size), op_resolver.h (exactly the "
        "ops used) and main.cc (a portable example application). Everything is read from the model file.",
    )
    firmware.add_argument("model", help="the .tflite (with its embedded contract)")
    firmware.add_argument("--out", default="firmware", help="output folder (default firmware/)")
    firmware.add_argument("--prefix", default="har",
                          help="prefix of every C symbol and macro (and file name, if not 'har'), so two models "
                          "can live in one firmware (default har)")
    firmware.set_defaults(func=cmd_firmware)
