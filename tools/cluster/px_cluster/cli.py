"""px-cluster: a real single-node Kubernetes built here from upstream sources.

px-cluster up [--dir DIR] [--images all|none|pause,busybox,...] [--portworx healthy|degraded|absent]
              [--portworx-nodes N] [--stork]
px-cluster down [--dir DIR] [--purge]
px-cluster status [--dir DIR]
px-cluster images [--images SPEC]     build the local images (no cluster needed)
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .cluster import Cluster, ClusterError


def _default_dir() -> Path:
    return Path(os.environ.get("PX_CLUSTER_DIR", "out/cluster"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="px-cluster", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--dir", type=Path, default=_default_dir(), help="cluster directory (default out/cluster)")
    up = sub.add_parser("up", parents=[common], help="build what is missing and start the cluster")
    up.add_argument(
        "--images",
        default=os.environ.get("PX_CLUSTER_IMAGES", "all"),
        help="local images to build and import: all, none, or a comma list (pause,busybox,python,airflow,postgres)",
    )
    up.add_argument("--portworx", choices=["healthy", "degraded", "absent"], default="healthy")
    up.add_argument("--portworx-nodes", type=int, default=3)
    up.add_argument("--stork", action="store_true", help="also show Stork's Deployments")
    down = sub.add_parser("down", parents=[common], help="stop the cluster (data kept unless --purge)")
    down.add_argument("--purge", action="store_true", help="also remove DIR: etcd's data, volumes, logs")
    sub.add_parser("status", parents=[common], help="say what runs")
    images = sub.add_parser("images", help="build the local images without starting a cluster")
    images.add_argument("--images", default=os.environ.get("PX_CLUSTER_IMAGES", "all"))
    args = parser.parse_args(argv)
    try:
        if args.command == "images":
            from . import images as image_mod

            image_mod.build(image_mod.select(args.images), lambda m: print(f"px-cluster: {m}", flush=True))
            return 0
        cluster = Cluster(args.dir)
        if args.command == "up":
            if args.portworx_nodes < 1:
                raise ClusterError(f"--portworx-nodes {args.portworx_nodes}: needs at least 1")
            cluster.up(args.images, args.portworx, args.portworx_nodes, args.stork)
            return 0
        if args.command == "down":
            cluster.down(purge=args.purge)
            return 0
        return cluster.status()
    except (ClusterError, ValueError) as exc:
        print(f"px-cluster: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
