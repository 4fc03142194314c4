"""Kill points: a process that kills itself (SIGKILL) at a named step of a delivery, for the fault tests.

The write-back's exactly-once promise is proved by killing the pushing process at each step and
checking the ERP afterwards (``tests/cash/writeback_faults.py``, ``make writeback-faults``). The
steps are marked in the code by one call each, ``faults.point("<name>")``; the names are
:data:`POINTS`. A process started with::

    O2C_FAULT=<point>:<n>      e.g. O2C_FAULT=erp_applied:3

kills itself with ``SIGKILL`` (no cleanup, no ``finally``, no flush, no rollback: as the kernel's
OOM killer or a power cut would) the ``n``-th time (1-based) it reaches that point, after writing
one line ``o2c fault: SIGKILL at <point>:<n>`` to its standard error.

**Off by default, and never on by accident.** Unset or empty (what every real deployment runs),
:func:`point` returns at once: a check of one module global, the environment read once per process.
A value that is not ``<known point>:<positive whole number>`` is a :class:`ConfigError` at the first
point reached, before anything is sent (a misspelt point never silently does nothing); an armed
process logs a warning naming the point when it first reaches a kill point. Nothing else reads the
variable, no configuration file or Airflow setting can set it, and it only ever kills the process
it is set in.
"""

from __future__ import annotations

import logging
import os
import signal

from schemas.errors import ConfigError

log = logging.getLogger(__name__)

FAULT_ENV = "O2C_FAULT"

#: the kill points, in the order a command passes them, and where each is
POINTS: dict[str, str] = {
    "claiming": "o2c.jobs.writeback: inside the transaction that claims a command, before it commits",
    "claimed": "o2c.jobs.writeback: the claim committed, before the ERP is called",
    "tryton_asked": "connectors.tryton pay wizard: Tryton asked how to settle a partial payment, before the step "
                    "that posts it",
    "tryton_posted": "connectors.tryton pay wizard: the step that posts the payment answered, before the wizard is "
                     "deleted and the payment line read back",
    "erp_applied": "o2c.jobs.writeback: the connector's push returned (the ERP applied the command), before the "
                   "outcome is recorded",
    "recording": "o2c.jobs.writeback: inside the transaction that records a command's outcome, before it commits",
}

_OFF = ("", 0)
_armed: tuple[str, int] | None = None  # None: the environment not read yet; _OFF: no fault
_hits: dict[str, int] = {}


def parse(value: str) -> tuple[str, int]:
    """``"<point>:<n>"`` -> ``(point, n)``; ``""`` -> off; anything else a :class:`ConfigError`."""
    value = value.strip()
    if not value:
        return _OFF
    name, sep, count = value.partition(":")
    if not sep or name not in POINTS or not count.isdigit() or int(count) < 1:
        raise ConfigError(f"{FAULT_ENV}={value!r}: write <point>:<n> (n from 1) with a point among "
                          f"{', '.join(POINTS)}, or unset it (it makes this process kill itself; tests only)")
    return name, int(count)


def point(name: str) -> None:
    """Mark the kill point ``name``: does nothing unless ``O2C_FAULT`` names it; at its ``n``-th
    passage the process kills itself."""
    global _armed
    if _armed is _OFF:
        return
    if _armed is None:
        _armed = parse(os.environ.get(FAULT_ENV, ""))
        if _armed is _OFF:
            return
        log.warning("%s=%s:%d is set: this process kills itself (SIGKILL) there; fault tests only",
                    FAULT_ENV, *_armed)
    if name not in POINTS:  # a call in the code with a name not documented above
        raise ConfigError(f"unknown kill point {name!r}; add it to transport.faults.POINTS")
    _hits[name] = hits = _hits.get(name, 0) + 1
    if name == _armed[0] and hits == _armed[1]:
        os.write(2, f"o2c fault: SIGKILL at {name}:{hits}\n".encode())
        os.kill(os.getpid(), signal.SIGKILL)


def reset() -> None:
    """Forget what was read and counted (tests that change ``O2C_FAULT`` in one process)."""
    global _armed
    _armed = None
    _hits.clear()
