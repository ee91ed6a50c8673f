"""Ctrl-C and SIGTERM as a clean stop, for the runtime and the recorder.

The first SIGINT or SIGTERM raises Stop wherever the program is (loading a model, waiting on a serial
port), so it can write its summary and exit normally; every later one is ignored, so a second Ctrl-C or a
supervisor's repeated SIGTERM cannot cut the summary short with a traceback.
"""
from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from typing import Iterator

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Stop(Exception):
    """Asked to stop: by a signal, or (the recorder) by a key or the end of its protocol."""


def _stop(signum: int, frame: object) -> None:
    ignore_signals()
    stop = Stop(f"stopped by {signal.Signals(signum).name}")
    stop.signum = signum
    raise stop


def _swallowed(unraisable) -> None:
    """sys.unraisablehook: Python swallows an exception raised in a finalizer or a weakref callback (an
    import's module lock has one), and a Stop raised there would be lost with the handlers already ignoring
    every later signal. Arm them again and signal once more, to land in the program's own code."""
    if isinstance(unraisable.exc_value, Stop) and hasattr(unraisable.exc_value, "signum"):
        install_stop_handlers()
        # sent from here, it would be handled here again: a moment later, it lands where the program is
        threading.Timer(0.01, os.kill, (os.getpid(), unraisable.exc_value.signum)).start()
        return
    _previous_hook(unraisable)


_previous_hook = sys.unraisablehook


def install_stop_handlers() -> None:
    """From now on, the first SIGINT/SIGTERM raises Stop and later ones are ignored."""
    global _previous_hook
    for number in SIGNALS:
        signal.signal(number, _stop)
    if sys.unraisablehook is not _swallowed:
        _previous_hook, sys.unraisablehook = sys.unraisablehook, _swallowed


def ignore_signals() -> None:
    """Ignore SIGINT/SIGTERM from now on: call it before writing a summary, whatever ended the work."""
    for number in SIGNALS:
        signal.signal(number, signal.SIG_IGN)


def hold_signals() -> set | None:
    """Hold SIGINT/SIGTERM back until release_signals() (a program's first line, before its imports); the
    mask before, or None where there is no mask to hold with (not POSIX)."""
    if not hasattr(signal, "pthread_sigmask"):
        return None
    return signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)


def release_signals(previous: set | None = None) -> None:
    """Deliver what was held (its handler runs here: install the stop handlers first) and stop holding: back to
    `previous` (hold_signals' answer), or with neither signal held."""
    if hasattr(signal, "pthread_sigmask"):
        if previous is None:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, SIGNALS)
        else:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """SIGINT/SIGTERM held back while native code imports, then delivered: Stop raised inside a C extension's
    import comes out as that import's ImportError (numpy's does), a traceback or "no interpreter found"."""
    previous = hold_signals()
    try:
        yield
    finally:
        release_signals(previous)
