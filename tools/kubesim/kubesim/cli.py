"""Command line: `kubesim serve --kubeconfig PATH [--port N] [--state-dir DIR] [--request-log PATH]
[--kubernetes-version 1.33]`.

Later parts add their flags in `add_serve_arguments` and read them from `ServeOptions.extra`.
"""

from __future__ import annotations

import argparse
import sys

from .server import ServeOptions, serve


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--kubeconfig", required=True, help="where to write the kubeconfig (once the server answers requests)"
    )
    parser.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0 or omitted: a free one)")
    parser.add_argument("--state-dir", help="keep objects here so they survive a restart")
    parser.add_argument("--request-log", help="append one JSON line per request to this file")
    parser.add_argument("--kubernetes-version", default="1.33", help="the Kubernetes version to simulate (1.30-1.37)")


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


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        try:
            return serve(options_from(args))
        except ValueError as e:
            print(f"kubesim: {e}", file=sys.stderr)
            return 2
        except OSError as e:  # the port is taken, a path is not writable, ...
            print(f"kubesim: cannot serve: {e}", file=sys.stderr)
            return 1
    return 2


if __name__ == "__main__":
    sys.exit(main())
