"""Simulated controllers: what makes objects come alive as on a real cluster (kubesim part 2).

One module per controller; `base` holds the work queue they share, `events` the event recorder
and `delays` the `--delays` table. `sim.start` assembles them.
"""

from .base import Context, Controller, Manager
from .pods import ContainerExit, Runner, SimulatedRunner

__all__ = ["ContainerExit", "Context", "Controller", "Manager", "Runner", "SimulatedRunner"]
