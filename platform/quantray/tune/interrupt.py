"""Ctrl-C / SIGTERM during a search: stop it the way Tune does, and remember that it happened.

Tune catches the first SIGINT itself, saves the experiment state and returns from
``Tuner.fit`` as if the search were complete, so the caller cannot tell a finished search
from an interrupted one (and would go on to select a trial and touch the test split).
``graceful_stop`` takes SIGINT and SIGTERM for the duration of ``fit``: the first one is
recorded and handed to Tune as SIGUSR1 (Tune's own "stop and save" signal), a second one
raises ``KeyboardInterrupt`` at once. After ``fit`` returns, ``Interrupted.signal`` says
whether the search ended early.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType

EXIT_INTERRUPTED = 130
"""Exit status of an interrupted script (128 + SIGINT, as a shell reports Ctrl-C)."""
_TUNE_SIGINT_ENV = "TUNE_DISABLE_SIGINT_HANDLER"


@dataclass
class Interrupted:
    """Set by ``graceful_stop``: the name of the first stop signal received, or None."""

    signal: str | None = None


@contextmanager
def graceful_stop() -> Iterator[Interrupted]:
    """Within the block, SIGINT / SIGTERM ask Tune to stop (saving its state) and are recorded.

    Must be entered on the main thread (Python delivers signals there). Restores the previous
    handlers and Tune's SIGINT setting on exit."""
    state = Interrupted()
    stop_signals = (signal.SIGINT, signal.SIGTERM)
    previous = {sig: signal.getsignal(sig) for sig in stop_signals}
    previous_env = os.environ.get(_TUNE_SIGINT_ENV)

    def handler(signum: int, frame: FrameType | None) -> None:
        if state.signal is not None:
            raise KeyboardInterrupt  # a second signal: stop now, without saving
        state.signal = signal.Signals(signum).name
        if signal.getsignal(signal.SIGUSR1) in (signal.SIG_DFL, signal.SIG_IGN, None):
            raise KeyboardInterrupt  # Tune is not running yet: nothing to save
        os.kill(os.getpid(), signal.SIGUSR1)

    os.environ[_TUNE_SIGINT_ENV] = "1"  # Tune must not replace our SIGINT handler
    for sig in stop_signals:
        signal.signal(sig, handler)
    try:
        yield state
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
        if previous_env is None:
            os.environ.pop(_TUNE_SIGINT_ENV, None)
        else:
            os.environ[_TUNE_SIGINT_ENV] = previous_env


def resume_hint(script: str, out: str, address: str | None = None) -> str:
    """The exact command that continues an interrupted search kept in ``out``."""
    extra = f" --address {address}" if address else ""
    return f"python {script} --resume --out {out}{extra}"
