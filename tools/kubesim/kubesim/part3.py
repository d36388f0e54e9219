"""kubesim part 3: pods that really run (`--run-pods`), the service proxy (`--proxy`) and fault injection
(`--faults`), registered on a running server.

- `add_arguments(parser)`: the flags of `kubesim serve`;
- `setup(app) -> stop`: the request hook for faults, the services/proxy subresource, the private
  endpoints (/kubesim/v1/proxies, /kubesim/v1/faults, /kubesim/v1/processes); returns the function
  that stops what it started (the fault file poller, the running containers);
- `extend(app) -> (ctx -> None)`: what the simulated controllers get (sim.start's `extend`): the real
  pod runner as `ctx.services["runner"]` when --run-pods, the object faults as `ctx.services["faults"]`
  (asked by the pods and volumes controllers) and a readiness probe in `ctx.services["probes"]`.
"""

from __future__ import annotations

import argparse
import os
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import errors
from .faults import Faults, quiet_dropped_connections
from .proxy import Proxies, parse_spec
from .rest import Request, Response
from .runner import DEFAULT_IMAGES, RealRunner, parse_patterns, say

if TYPE_CHECKING:
    from .controllers.base import Context
    from .server import App


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("pods, proxy and faults", "real processes, the service proxy, failures")
    group.add_argument(
        "--run-pods",
        action="store_true",
        help="really run the containers whose image matches --run-images (as root: a private mount namespace "
        "over the host's programs, volumes bind-mounted); other containers stay simulated",
    )
    group.add_argument(
        "--run-images",
        metavar="PATTERNS",
        help=f"comma-separated image globs that --run-pods runs (default {','.join(DEFAULT_IMAGES)})",
    )
    group.add_argument(
        "--proxy",
        action="append",
        default=[],
        metavar="NS/NAME[:PORT]=URL",
        help="where the service proxy forwards a Service port (repeatable; also POST /kubesim/v1/proxies)",
    )
    group.add_argument(
        "--faults", metavar="FILE", help="YAML/JSON fault rules (request errors, latency, object faults); reloaded"
    )


@dataclass
class Pieces:
    faults: Faults
    proxies: Proxies
    run_pods: bool
    patterns: tuple[str, ...]
    runner: RealRunner | None = None


_PIECES: weakref.WeakKeyDictionary[App, Pieces] = weakref.WeakKeyDictionary()


def setup(app: App) -> Callable[[], None]:
    extra = app.options.extra
    if extra.get("run_pods") and os.geteuid() != 0:
        # Mount namespaces, overlay mounts, chroot and switching to the pod's user ids all need root.
        raise ValueError("--run-pods needs root (it mounts the containers' roots and switches to their users)")
    faults = Faults(extra.get("faults"))
    proxies = Proxies(app.api)
    for spec in extra.get("proxy") or ():
        proxies.add(parse_spec(spec))
    pieces = Pieces(faults, proxies, bool(extra.get("run_pods")), parse_patterns(extra.get("run_images")))
    _PIECES[app] = pieces
    # First hook: a fault is injected before anything else answers.
    app.before_request.insert(0, faults.request_hook)
    app.before_request.append(proxies.api_hook)
    app.before_request.append(_private_hook(pieces))
    app.frontend.subresource_handlers[("", "services", "proxy")] = proxies.handle
    quiet_dropped_connections()
    faults.start()
    if pieces.run_pods and extra.get("no_controllers"):
        say("--run-pods has no effect with --no-controllers: no kubelet starts any container")

    def stop() -> None:
        faults.stop()
        if pieces.runner is not None:
            pieces.runner.close()

    return stop


def extend(app: App) -> Callable[[Context], None]:
    """For `sim.start(api, args, extend=...)`: called with the controllers' context before they start."""

    def attach(ctx: Context) -> None:
        pieces = _PIECES[app]
        pieces.faults.attach(ctx)
        if not pieces.run_pods:
            return
        from .controllers.pods import SimulatedRunner

        fallback = ctx.services.get("runner") or SimulatedRunner(ctx)
        pieces.runner = RealRunner(
            app.api.store,
            app.api.logs,
            fallback,
            pieces.patterns,
            app.options.state_dir,
            lambda: app.server_address,
            app.token,
        )
        ctx.services["runner"] = pieces.runner
        say(f"--run-pods: containers of images {','.join(pieces.patterns)} run for real; the others are simulated")

    return attach


def _private_hook(pieces: Pieces) -> Callable[[Request], Response | None]:
    """GET /kubesim/v1/faults (loaded rules, how often each fired), GET /kubesim/v1/processes (pids)."""

    def hook(request: Request) -> Response | None:
        path = request.path.rstrip("/")
        if path not in ("/kubesim/v1/faults", "/kubesim/v1/processes"):
            return None
        if request.method != "GET":
            raise errors.method_not_allowed(f"GET {path}")
        if path.endswith("faults"):
            return Response(200, pieces.faults.state())
        return Response(200, {"processes": pieces.runner.pids() if pieces.runner else {}})

    return hook
