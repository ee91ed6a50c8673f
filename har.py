"""`har`: the toolchain's command line, one subcommand per stage (data, train, evaluate, convert, ...).

Each stage defines its own options next to its code (train/cli.py, convert/cli.py, firmware_gen/cli.py,
search/cli.py, bench/cli.py) and imports its heavy dependencies only when its subcommand runs, so `har data` and
`har firmware` start without TensorFlow. Every user error ends with one line naming what is wrong and
exit status 2; --verbose brings back TensorFlow's own logging.
"""
from __future__ import annotations

import argparse
import os
import signal
import sys

EPILOG = "Run `har COMMAND --help` for the options of each stage."
_previous_hooks: list = []  # sys.unraisablehook before each main() now running (in-process callers nest)


def _register_record(stages) -> None:
    """`har record` is the device-side recorder (device_runtime/record.py) under the toolchain's command."""
    from device_runtime import record

    parser = stages.add_parser(
        "record",
        help="record labelled sensor data over serial to the CSV format",
        description="Record a sensor that prints `timestamp_ms,ax,ay,az,gx,gy,gz` lines (the sensor_streamer.ino "
        "that `har firmware` generates does) into the generic CSV format, with the device's timestamps, a "
        "subject id, and labels given while recording: keys 1-9 pick one of --labels (0 or space: unlabelled, "
        "q: stop), or a --protocol file times them. Rows are flushed as they arrive: Ctrl-C, a crash or an "
        "unplugged cable loses nothing (the port is reopened with backoff). Broken lines are counted and skipped.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="protocol file: one step per line, LABEL SECONDS, '-' for unlabelled, e.g.\n  walk 60 s\n  - 5 s\n"
        "  sit 30 s\n\nexamples:\n  har record --port /dev/ttyACM0 --out data/me/walk1.csv --subject me --labels walk,sit\n"
        "  har record --port /dev/ttyACM0 --out data/me/p1.csv --subject me --protocol protocol.txt",
    )
    record.add_arguments(parser)
    parser.set_defaults(func=record.run_from_args)


def build_parser() -> argparse.ArgumentParser:
    from bench.cli import register as register_bench
    from convert.cli import register as register_convert
    from firmware_gen.cli import register as register_firmware
    from search.cli import register as register_search
    from train.cli import register as register_train

    parser = argparse.ArgumentParser(
        prog="har",
        description="Human activity recognition from IMU recordings to a microcontroller or Raspberry Pi.",
        epilog=EPILOG,
    )
    parser.add_argument("--verbose", action="store_true", help="show TensorFlow's and absl's own log lines")
    stages = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    register_train(stages)
    _register_record(stages)
    register_convert(stages)
    register_firmware(stages)
    register_search(stages)
    register_bench(stages)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.verbose:
        os.environ["HAR_VERBOSE"] = "1"  # TensorFlow's start-up lines too (train/quiet.py)
    previous = signal.signal(signal.SIGTERM, _terminated) if _main_thread() else None
    hook = sys.unraisablehook
    _previous_hooks.append(hook)
    sys.unraisablehook = _swallowed
    try:
        return args.func(args)
    except (ValueError, OSError) as error:  # DataError, ModelError, ContractError, ... are ValueErrors
        message = str(error) if isinstance(error, ValueError) else f"{getattr(error, 'filename', '') or ''}: {error.strerror or error}"
        print(f"har {args.command}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"har {args.command}: interrupted", file=sys.stderr)
        return 130
    finally:  # once a SIGTERM came, later ones stay ignored while the interpreter shuts down
        sys.unraisablehook = hook
        _previous_hooks.pop()
        if previous is not None and signal.getsignal(signal.SIGTERM) is _terminated:
            signal.signal(signal.SIGTERM, previous)


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _terminated(signum, frame) -> None:
    """A SIGTERM stops a command as Ctrl-C does, so its cleanup runs (a conversion's staging folder and lock,
    a training's resumable state); a second one during that cleanup is ignored."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    interrupt = KeyboardInterrupt()
    interrupt.signum = signal.SIGTERM
    raise interrupt


def _swallowed(unraisable) -> None:
    """sys.unraisablehook: a Ctrl-C or SIGTERM whose handler runs inside a finalizer (TensorFlow's function
    objects have them) raises KeyboardInterrupt there, which Python drops: the command went on, and a
    conversion published its model after `make` had stopped. The signal is sent again, to land where the
    command is."""
    if not isinstance(unraisable.exc_value, KeyboardInterrupt):
        return (_previous_hooks[-1] if _previous_hooks else sys.__unraisablehook__)(unraisable)
    import threading

    signum = getattr(unraisable.exc_value, "signum", signal.SIGINT)
    if signum == signal.SIGTERM:
        signal.signal(signal.SIGTERM, _terminated)
    threading.Timer(0.01, os.kill, (os.getpid(), signum)).start()  # from here it would be handled here again


if __name__ == "__main__":
    sys.exit(main())
