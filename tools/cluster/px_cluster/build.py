"""Builds Kubernetes, etcd and CoreDNS with the Go toolchain through the module proxy.

Kubernetes' and etcd's own go.mod files carry replace directives, so ``go install pkg@version``
refuses them; each is built from a small wrapper module of ours that requires the upstream
module at the pinned version (and, for Kubernetes, pins its staging modules). Binaries land in
the cache folder under ``bin/<component>-<version>/``: a second set-up rebuilds nothing.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from . import versions

Say = Callable[[str], None]


class BuildError(RuntimeError):
    """A build step failed; the message says which and shows the tail of its output."""


def go_env() -> dict[str, str]:
    cache = versions.cache_root() / "go"
    env = dict(os.environ)
    env.update(
        GOTOOLCHAIN="local",
        GOCACHE=str(cache / "build"),
        GOMODCACHE=str(cache / "mod"),
        GOPATH=str(cache / "path"),
        CGO_ENABLED="0",
        GOFLAGS="-buildvcs=false -trimpath",
    )
    return env


def _go(args: list[str], cwd: Path, what: str) -> str:
    if shutil.which("go", path=os.environ.get("PATH")) is None:
        raise BuildError("the Go toolchain (`go`) is not on PATH; install Go 1.24 or newer")
    proc = subprocess.run(["go", *args], cwd=cwd, env=go_env(), capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-25:])
        raise BuildError(f"{what}: `go {' '.join(args)}` failed in {cwd}:\n{tail}")
    return proc.stdout


def _write_if_changed(path: Path, text: str) -> None:
    if not path.exists() or path.read_text() != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def _src(name: str) -> Path:
    return versions.cache_root() / "src" / name


def _staging_modules(workdir: Path) -> list[str]:
    """The k8s.io/* modules k8s.io/kubernetes replaces with its staging copies."""
    out = _go(["mod", "download", "-json", f"k8s.io/kubernetes@{versions.KUBERNETES}"], workdir, "kubernetes go.mod")
    gomod = Path(json.loads(out)["GoMod"]).read_text()
    return sorted(set(re.findall(r"^\s*(k8s\.io/[\w.-]+)\s+=>\s+\./staging/", gomod, re.MULTILINE)))


def _kubernetes_module() -> Path:
    work = _src(f"kubernetes-{versions.KUBERNETES}")
    work.mkdir(parents=True, exist_ok=True)
    if (work / "go.sum").exists() and (work / ".tidy").exists():
        return work
    _write_if_changed(work / "go.mod", "module px-airflow/kubernetes-build\n\ngo 1.24.0\n")
    staging = _staging_modules(work)
    lines = [
        "module px-airflow/kubernetes-build",
        "",
        "go 1.24.0",
        "",
        f"require k8s.io/kubernetes {versions.KUBERNETES}",
        "",
        "replace (",
        *[f"\t{mod} => {mod} {versions.KUBERNETES_STAGING}" for mod in staging],
        ")",
        "",
    ]
    _write_if_changed(work / "go.mod", "\n".join(lines))
    imports = "\n".join(
        f'\t_ "k8s.io/kubernetes/cmd/{cmd}"' for cmd in versions.KUBERNETES_COMMANDS if cmd != "kubectl"
    )
    _write_if_changed(
        work / "tools.go",
        f'//go:build tools\n\npackage tools\n\nimport (\n{imports}\n\t_ "k8s.io/kubectl/pkg/cmd"\n)\n',
    )
    _go(["mod", "tidy"], work, "kubernetes wrapper module")
    (work / ".tidy").write_text("ok\n")
    return work


def _kube_ldflags() -> str:
    major, minor = versions.KUBERNETES.lstrip("v").split(".")[:2]
    values = {
        "gitVersion": versions.KUBERNETES,
        "gitMajor": major,
        "gitMinor": minor,
        "gitCommit": versions.KUBERNETES_COMMIT,
        "gitTreeState": "clean",
        "buildDate": versions.KUBERNETES_BUILD_DATE,
    }
    flags = ["-s", "-w"]
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [f"-X {pkg}.{key}={value}" for key, value in values.items()]
    return " ".join(flags)


ETCD_MAIN = """package main

import (
\t"os"

\t"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
"""

# Only the plugins the cluster's Corefile uses: the full CoreDNS build links every cloud SDK.
COREDNS_PLUGINS = ("bind", "ready", "health", "errors", "log", "loadbalance", "cache", "kubernetes")
COREDNS_MAIN = """package main

import (
\t"github.com/coredns/coredns/core/dnsserver"
\t"github.com/coredns/coredns/coremain"
%s
)

func init() {
\t// Directive order as in CoreDNS's plugin.cfg, restricted to the plugins linked in.
\tdnsserver.Directives = []string{%s}
}

func main() { coremain.Run() }
"""


def _simple_module(name: str, module: str, version: str, main: str) -> Path:
    work = _src(f"{name}-{version}")
    if (work / "go.sum").exists() and (work / ".tidy").exists():
        return work
    _write_if_changed(work / "go.mod", f"module px-airflow/{name}-build\n\ngo 1.24.0\n\nrequire {module} {version}\n")
    _write_if_changed(work / "main.go", main)
    _go(["mod", "tidy"], work, f"{name} wrapper module")
    (work / ".tidy").write_text("ok\n")
    return work


def _coredns_main() -> str:
    imports = "\n".join(f'\t_ "github.com/coredns/coredns/plugin/{p}"' for p in COREDNS_PLUGINS)
    return COREDNS_MAIN % (imports, ", ".join(f'"{p}"' for p in COREDNS_PLUGINS))


def _components() -> list[tuple[str, str, Callable[[], Path], str, str]]:
    """(binary, version, module, package, ldflags) for everything built."""
    out: list[tuple[str, str, Callable[[], Path], str, str]] = [
        (
            "etcd",
            versions.ETCD,
            lambda: _simple_module("etcd", "go.etcd.io/etcd/server/v3", versions.ETCD, ETCD_MAIN),
            ".",
            "-s -w",
        ),
        (
            "coredns",
            versions.COREDNS,
            lambda: _simple_module("coredns", "github.com/coredns/coredns", versions.COREDNS, _coredns_main()),
            ".",
            f"-s -w -X github.com/coredns/coredns/coremain.GitCommit={versions.COREDNS}",
        ),
    ]
    for cmd in versions.KUBERNETES_COMMANDS:
        out.append((cmd, versions.KUBERNETES, _kubernetes_module, f"k8s.io/kubernetes/cmd/{cmd}", _kube_ldflags()))
    return out


def binaries() -> dict[str, Path]:
    """Every component's binary path (built or not)."""
    return {comp: versions.bin_dir() / f"{comp}-{version}" / comp for comp, version, *_ in _components()}


def binary(name: str) -> Path:
    return binaries()[name]


def missing() -> list[str]:
    return [comp for comp, path in binaries().items() if not path.exists()]


def build_all(say: Say) -> dict[str, float]:
    """Builds what is missing; returns seconds per component built (nothing when all are there)."""
    took: dict[str, float] = {}
    for comp, version, module, package, ldflags in _components():
        target = binary(comp)
        if target.exists():
            continue
        say(f"building {comp} {version} with Go (first time only; cached in {versions.cache_root()})")
        started = time.monotonic()
        work = module()
        tmp = target.with_name(f".{comp}.tmp")
        tmp.parent.mkdir(parents=True, exist_ok=True)
        _go(["build", "-ldflags", ldflags, "-o", str(tmp), package], work, f"building {comp}")
        tmp.rename(target)
        took[comp] = time.monotonic() - started
        say(f"built {comp} {version} in {took[comp]:.0f} s")
    return took


def go_binary_from_source(name: str, source: str, say: Say) -> Path:
    """A small static Go program of ours (the pause image's process), built once per source."""
    import hashlib

    digest = hashlib.sha256(source.encode()).hexdigest()[:12]
    target = versions.bin_dir() / f"{name}-{digest}" / name
    if target.exists():
        return target
    work = _src(f"{name}-{digest}")
    _write_if_changed(work / "go.mod", f"module px-airflow/{name}\n\ngo 1.24.0\n")
    _write_if_changed(work / "main.go", source)
    started = time.monotonic()
    tmp = target.with_name(f".{name}.tmp")
    tmp.parent.mkdir(parents=True, exist_ok=True)
    _go(["build", "-ldflags", "-s -w", "-o", str(tmp), "."], work, f"building {name}")
    tmp.rename(target)
    say(f"built {name} in {time.monotonic() - started:.1f} s")
    return target
