"""SIGTERM and SIGHUP handled like Ctrl-C, so systemd, `docker stop`, `kill` or a closed terminal stop a run
cleanly (every recording finalised) instead of killing it where it stands.

    with stop_signals_as_interrupt():
        ...   # SIGTERM / SIGHUP raise KeyboardInterrupt here, in the main thread, once

After the first stop signal the next ones are ignored (until the process exits), so a supervisor that
repeats SIGTERM does not cut the clean-up short (SIGKILL still ends the process at once; the recording then
keeps all but its last second). Outside the main thread, or on a platform without these signals, this does nothing.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))


@contextmanager
def stop_signals_as_interrupt() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []

    def handler(signum: int, frame: object) -> None:
        received.append(signum)
        if len(received) == 1:
            raise KeyboardInterrupt(signal.Signals(signum).name)
        try:
            print(f"{signal.Signals(signum).name}: already stopping, finishing the outputs", file=sys.stderr)
        except OSError:  # the terminal is gone (SIGHUP): nothing to tell, nothing to break
            pass

    previous = {sig: signal.signal(sig, handler) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, old in previous.items():
            # Once stopping, stay stopping: a repeated signal that arrives after this block (the supervisor's
            # second SIGTERM while the interpreter exits) would otherwise kill the process with -15 after a
            # clean stop. Ignoring it until exit is what the user asked for: the stop is already happening.
            signal.signal(sig, signal.SIG_IGN if received else old)
