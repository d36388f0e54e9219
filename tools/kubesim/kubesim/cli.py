"""Command line: `kubesim serve --kubeconfig PATH [--port N] [--state-dir DIR] [--request-log PATH]
[--kubernetes-version 1.33]`, plus the simulation's flags (sim.py: --portworx, --delays,
--no-controllers, ...) and part 3's (part3.py: --run-pods, --run-images, --proxy, --faults).

The simulation and part 3 start in the server's `setup` hook, before the first request is answered;
what they started is stopped once the server has stopped.
"""

from __future__ import annotations

import argparse
import sys
import threading
from collections.abc import Callable

from . import part3, sim
from .server import App, ServeOptions, Setup, serve


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--kubeconfig", required=True, help="where to write the kubeconfig (once the server answers requests)"
    )
    parser.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0 or omitted: a free one)")
    parser.add_argument("--state-dir", help="keep objects here so they survive a restart")
    parser.add_argument("--request-log", help="append one JSON line per request to this file")
    parser.add_argument("--kubernetes-version", default="1.33", help="the Kubernetes version to simulate (1.30-1.37)")
    sim.add_arguments(parser)
    part3.add_arguments(parser)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kubesim",
        description="A strict SIMULATED Kubernetes API server for tests (a test double, not a cluster).",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve_parser = commands.add_parser("serve", help="serve the simulated Kubernetes API over HTTPS")
    add_serve_arguments(serve_parser)
    return parser


def options_from(args: argparse.Namespace) -> ServeOptions:
    known = {"kubeconfig", "port", "state_dir", "request_log", "kubernetes_version", "command"}
    return ServeOptions(
        kubeconfig=args.kubeconfig,
        port=args.port,
        state_dir=args.state_dir,
        request_log=args.request_log,
        kubernetes_version=args.kubernetes_version,
        extra={k: v for k, v in vars(args).items() if k not in known},
    )


class Stops:
    """What the setup hook started, stopped once and in reverse order: as soon as the API starts
    closing (controllers must not outlive it), at the latest when `serve` returns."""

    def __init__(self) -> None:
        self._stops: list[Callable[[], None]] = []
        self._lock = threading.Lock()
        self._done = False

    def add(self, stop: Callable[[], None]) -> None:
        self._stops.append(stop)

    def run(self) -> None:
        with self._lock:  # a second caller waits until the first has finished
            if self._done:
                return
            self._done = True
            for stop in reversed(self._stops):
                stop()


def make_setup(args: argparse.Namespace, stops: Stops) -> Setup:
    """Part 3's hooks first (so the controllers find its runner and faults), then the simulation."""

    def setup(app: App) -> None:
        stops.add(part3.setup(app))
        stops.add(start_simulation(app, args))
        threading.Thread(target=_stop_when_closing, args=(app, stops), name="kubesim-stop", daemon=True).start()

    return setup


def _stop_when_closing(app: App, stops: Stops) -> None:
    app.api.closing.wait()
    stops.run()


def start_simulation(app: App, args: argparse.Namespace) -> Callable[[], None]:
    """The controllers, given part 3's pod runner and faults before they are built."""
    return sim.start(app.api, args, extend=part3.extend(app))


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command != "serve":
        return 2
    stops = Stops()
    try:
        return serve(options_from(args), make_setup(args, stops))
    except ValueError as e:
        print(f"kubesim: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # the port is taken, a path is not writable, ...
        print(f"kubesim: cannot serve: {e}", file=sys.stderr)
        return 1
    finally:
        stops.run()


if __name__ == "__main__":
    sys.exit(main())
