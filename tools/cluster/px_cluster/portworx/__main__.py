"""`python -m px_cluster.portworx --kubeconfig K --volumes DIR --mode M --nodes N`: the stand-in's
controller (controller.py), until SIGTERM or SIGINT; it exits within about a second of either."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from . import MODES


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m px_cluster.portworx", description=__doc__)
    parser.add_argument("--kubeconfig", required=True, type=Path, help="the kubeconfig of user px:portworx")
    parser.add_argument("--context", default="px-local")
    parser.add_argument("--volumes", required=True, type=Path, help="folder of the volumes' directories")
    parser.add_argument("--mode", choices=MODES, default="healthy")
    parser.add_argument("--nodes", type=int, default=3, help="storage nodes (informational; they are API objects)")
    parser.add_argument("--no-stork", dest="stork", action="store_false", help="do not serve schedulerName stork")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)

    with_lines = getattr(sys.stdout, "reconfigure", None)
    if with_lines is not None:
        with_lines(line_buffering=True)
    logging.basicConfig(
        stream=sys.stdout,
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s.%(msecs)03d portworx %(levelname)s %(message)s",
        datefmt="%Y-%m-%dT%H:%M:%S",
    )
    logging.getLogger("urllib3").setLevel(logging.WARNING)
    logging.getLogger("kubernetes").setLevel(logging.WARNING)
    log = logging.getLogger("portworx")

    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        log.info("stopping (%s)", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    from .controller import Controller
    from .kube import Api

    try:
        api = Api(str(args.kubeconfig), args.context)
    except Exception as e:
        log.error("cannot use kubeconfig %s (context %s): %s", args.kubeconfig, args.context, e)
        return 2
    controller = Controller(api, args.volumes, args.mode, args.nodes, args.stork, stop)
    runner = threading.Thread(target=controller.run, name="controller", daemon=True)
    runner.start()
    while runner.is_alive() and not stop.wait(0.5):
        pass
    if not stop.is_set():
        log.error("the controller stopped unexpectedly")
        return 1
    runner.join(1.0)
    log.info("stopped")
    logging.shutdown()
    # Watches block in socket reads and a copy may be under way: leave without waiting for them
    # (copies are made aside and renamed into place, so nothing half-made is ever used).
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
