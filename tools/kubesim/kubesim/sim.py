"""The simulation around the API server: controllers, simulated nodes and a simulated Portworx.

`add_arguments` adds the simulation's flags to `kubesim serve`; `start` runs the simulation
against an `rest.Api` (after `Api.start()`) in background threads and returns a function that
stops it (cli.py calls it from the server's setup hook, before the first request is answered). With
`--no-controllers` nothing runs: the API serves objects that never change by themselves, for
pure-API tests.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from . import portworx
from .controllers.base import Client, Context, Manager
from .controllers.daemonsets import DaemonSetController
from .controllers.delays import Delays
from .controllers.deployments import DeploymentController
from .controllers.events import Recorder
from .controllers.jobs import JobController
from .controllers.nodes import NodeController, sim_nodes
from .controllers.pods import PodController, Runner, SimulatedRunner
from .controllers.replicasets import ReplicaSetController
from .controllers.scheduler import SchedulerController
from .controllers.snapshots import SnapshotController
from .controllers.statefulsets import StatefulSetController
from .controllers.volumes import VolumeController
from .rest import Api


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("simulation", "what the simulated cluster does with the objects it serves")
    group.add_argument(
        "--portworx",
        choices=portworx.MODES,
        default="healthy",
        help="the simulated Portworx: healthy (StorageCluster Running, provisions volumes), "
        "degraded (Degraded, provisions nothing) or absent (not installed); default healthy",
    )
    group.add_argument(
        "--portworx-nodes",
        type=_positive,
        default=3,
        metavar="N",
        help="simulated nodes, each a Portworx storage node (default 3)",
    )
    group.add_argument(
        "--delays",
        metavar="FILE",
        help='YAML/JSON delays in seconds per kind and name glob, e.g. {"ready": '
        '{"StatefulSet/postgres": 20}, "bind": {"PersistentVolumeClaim/*": 10}}; '
        "categories ready, bind, run, backoff (default: none)",
    )
    group.add_argument(
        "--no-controllers",
        action="store_true",
        help="run no controllers (pure-API tests: nothing changes objects but clients)",
    )


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def start(api: Api, args: argparse.Namespace, *, extend: Callable[[Context], None] | None = None) -> Callable[[], None]:
    """Start the controllers (and Portworx) for `api`; returns the function that stops them.

    `extend(ctx)` runs before the controllers are built: later parts put their services there
    (part 3: the real pod runner as ctx.services["runner"], object faults as ctx.services["faults"]).
    """
    if getattr(args, "no_controllers", False):
        return lambda: None
    mode = getattr(args, "portworx", "healthy") or "healthy"
    if mode not in portworx.MODES:
        raise ValueError(f"--portworx must be one of {', '.join(portworx.MODES)}")
    delays = Delays.load(getattr(args, "delays", None))
    nodes = sim_nodes(getattr(args, "portworx_nodes", 3) or 3)
    manager = Manager(api)
    client = Client(api)
    ctx = Context(
        api=api,
        client=client,
        recorder=Recorder(client, nodes[0].name),
        delays=delays,
        manager=manager,
        settings={"portworx": mode, "nodes": nodes},
    )
    ctx.services["runner"] = make_runner(ctx, args)
    if extend is not None:
        extend(ctx)
    node_controller = NodeController(ctx)
    ctx.services["nodes_controller"] = node_controller
    # Bootstrap order matters: nodes, then the snapshot CRDs, then Portworx (which uses both).
    for controller in (
        node_controller,
        SnapshotController(ctx),
        VolumeController(ctx),
        SchedulerController(ctx),
        PodController(ctx),
        ReplicaSetController(ctx),
        DeploymentController(ctx),
        StatefulSetController(ctx),
        JobController(ctx),
        DaemonSetController(ctx),
        portworx.PortworxController(ctx),
    ):
        manager.add(controller)
    manager.start()
    return manager.stop


def make_runner(ctx: Context, args: argparse.Namespace) -> Runner:
    """The pod runner: simulated by default (part 3 plugs in one that really runs some images)."""
    del args
    return SimulatedRunner(ctx)
