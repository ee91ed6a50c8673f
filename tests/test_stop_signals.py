"""The stop handling of the Pi runtime and the recorder (device_runtime/signals.py), and of `har` (har.py): a
signal is a clean stop wherever Python happens to handle it."""
import signal
import subprocess
import sys
import threading
import time

import pytest
from conftest import REPO


def test_a_signal_while_native_code_imports_is_held_then_a_clean_stop():
    """Stop raised inside a C extension's import came out as that import's ImportError (numpy's, 2 starts in
    320 under load): while held, the signal waits, and it is delivered as Stop once the import is done."""
    from device_runtime.signals import Stop, install_stop_handlers, signals_held

    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    install_stop_handlers()
    reached = False
    try:
        with pytest.raises(Stop, match="SIGTERM"):
            with signals_held():
                # to this thread: pytest's process has other threads (TensorFlow's), which hold nothing; a
                # program holds from its first line, so the threads numpy starts inherit the hold
                signal.pthread_kill(threading.main_thread().ident, signal.SIGTERM)
                time.sleep(0.05)  # the handler would run here, were the signal not held
                reached = True
        assert reached
    finally:
        for number, handler in handlers.items():
            signal.signal(number, handler)


def test_a_signal_handled_inside_a_finalizer_is_not_lost(capsys):
    """Python swallows (and prints) an exception raised in a finalizer or a weakref callback: a SIGTERM handled
    inside an import's module-lock callback printed a traceback and was lost (CI, 1 start in a few hundred)."""
    from device_runtime.signals import Stop, install_stop_handlers

    class Finalized:
        def __del__(self):
            signal.raise_signal(signal.SIGTERM)  # its handler runs here, inside the finalizer

    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    hook = sys.unraisablehook
    install_stop_handlers()
    try:
        with pytest.raises(Stop, match="SIGTERM"):
            Finalized()
            for _ in range(100):
                time.sleep(0.01)  # the stop lands in this code
    finally:
        sys.unraisablehook = hook
        for number, handler in handlers.items():
            signal.signal(number, handler)
    assert "Traceback" not in capsys.readouterr().err


def test_a_held_signal_is_a_stop_once_released():
    from device_runtime.signals import Stop, hold_signals, install_stop_handlers, release_signals

    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        hold_signals()
        signal.raise_signal(signal.SIGINT)
        time.sleep(0.05)  # held: nothing happens here
        install_stop_handlers()
        with pytest.raises(Stop, match="SIGINT"):
            release_signals()
    finally:
        release_signals()
        for number, handler in handlers.items():
            signal.signal(number, handler)


@pytest.mark.parametrize("number", [signal.SIGINT, signal.SIGTERM])
def test_a_har_command_does_not_lose_a_stop_that_lands_in_a_finalizer(number):
    """A Ctrl-C during `har convert` had raised KeyboardInterrupt inside one of TensorFlow's finalizers,
    which Python drops: the conversion went on and published after `make` had stopped."""
    code = ("import signal, sys, time\nimport har\n"
            "signal.signal(signal.SIGINT, signal.default_int_handler)\n"  # as a terminal's; a background job's is ignored
            "class Finalized:\n    def __del__(self):\n        signal.raise_signal(%d)\n"
            "def command(args):\n    Finalized()\n    time.sleep(2)\n    print('went on')\n    return 0\n"
            "parser = har.build_parser\nhar.build_parser = lambda: type('P', (), {'parse_args': lambda self, argv: "
            "type('A', (), {'verbose': False, 'func': staticmethod(command), 'command': 'convert'})()})()\n"
            "sys.exit(har.main([]))\n" % int(number))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert result.returncode == 130 and "went on" not in result.stdout and "interrupted" in result.stderr
    assert "Traceback" not in result.stderr and "Exception ignored" not in result.stderr
