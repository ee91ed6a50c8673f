"""`python -m device_runtime`: the Raspberry Pi classifier (see device_runtime/cli.py and README.md).

The stop handlers go in before anything heavy is imported, so a SIGTERM or Ctrl-C even while numpy and
the interpreter load is a clean stop, never a traceback.
"""
import sys

from device_runtime.signals import Stop, install_stop_handlers, signals_held

if __name__ == "__main__":
    install_stop_handlers()
    try:
        with signals_held():
            from device_runtime.cli import main
        status = main()
    except Stop as why:
        print(f"device_runtime: {why} during start-up", file=sys.stderr)
        status = 0
    sys.exit(status)
