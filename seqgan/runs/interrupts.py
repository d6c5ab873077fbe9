"""Ctrl-C and SIGTERM between training steps, so the checkpoint saved on the way out resumes exactly.

A signal that lands in the middle of an optimizer step (or of an adversarial round: a D update done, the G update
not yet) would leave a state that no uninterrupted run ever had. Inside :func:`between_steps` the first Ctrl-C /
SIGTERM is only remembered; the loop calls ``check()`` after each complete step, which raises
:class:`Interrupted` there. A second signal stops at once (``Interrupted(clean=False)``): the trainer then must not
save, and ``--resume`` continues from the last periodic checkpoint.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

logger = logging.getLogger(__name__)


class Interrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM; ``clean``: raised at a step boundary (the state is consistent and can be saved);
    ``signum``: the signal that asked for it."""

    def __init__(self, clean: bool = True, signum: int = signal.SIGINT) -> None:
        super().__init__()
        self.clean, self.signum = clean, signum


class PendingSignal:
    """Whether Ctrl-C / SIGTERM arrived; :meth:`check` raises :class:`Interrupted` when one did."""

    def __init__(self) -> None:
        self.signum: int | None = None

    def check(self) -> None:
        if self.signum is not None:
            raise Interrupted(clean=True, signum=self.signum)


@contextmanager
def between_steps(unit: str = "step", enabled: bool = True) -> Iterator[PendingSignal]:
    """Hold Ctrl-C / SIGTERM until the loop's next ``check()`` (after a complete ``unit``). With ``enabled=False``
    (a multi-process run, whose processes must all stop at the same step) and off the main thread (where signals
    cannot be handled) signals behave as usual."""
    pending = PendingSignal()
    if not enabled or threading.current_thread() is not threading.main_thread():
        yield pending
        return

    def handler(signum, frame) -> None:
        if pending.signum is not None:  # the second signal: stop now
            raise Interrupted(clean=False, signum=signum)
        pending.signum = signum
        logger.warning("stopping after this %s to save a checkpoint (press Ctrl-C again to stop at once)", unit)

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield pending
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
