"""px.airflow's modules in the controller's process (their action plugins) and as modules, on the
local real cluster: the same results, the same requests and writes (audit log), no secret in the
output either way, and the module path taken whenever running in-process could differ (here: an
`environment` on the task, and px_in_process=false)."""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path

from .kube import ROOT, Kube

HERE = "runs in the controller's process"
AS_MODULE = "runs as a module on the target"


def play(kube: Kube, namespace: str, suffix: str, out: Path) -> list[dict]:
    auth = kube.module_auth()
    config = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": f"cm-{suffix}", "namespace": namespace},
        "data": {"a": "1"},
    }
    return [
        {
            "hosts": "localhost",
            "gather_facts": False,
            "module_defaults": {"group/px.airflow.k8s": auth},
            "tasks": [
                {"name": "apply", "px.airflow.apply": {"definitions": [config]}, "register": "applied"},
                {
                    "name": "secrets",
                    "px.airflow.secrets": {
                        "name": f"s-{suffix}",
                        "namespace": namespace,
                        "keys": [{"name": "token", "length": 24}],
                    },
                    "register": "generated",
                },
                {
                    "name": "read",
                    "px.airflow.objects_info": {
                        "queries": [{"kind": "ConfigMap", "name": f"cm-{suffix}", "namespace": namespace}]
                    },
                    "register": "read",
                },
                {
                    "name": "with an environment",
                    "px.airflow.portworx_info": {},
                    "environment": {"PX_TEST": "1"},
                },
                {
                    "name": "save",
                    "ansible.builtin.copy": {
                        "content": "{{ {'applied': applied, 'generated': generated, 'read': read} | to_json }}",
                        "dest": str(out),
                    },
                },
            ],
        }
    ]


def run(kube: Kube, namespace: str, suffix: str, tmp_path: Path, *extra: str) -> tuple[str, dict, list, list]:
    out = tmp_path / f"{suffix}.json"
    path = tmp_path / f"{suffix}.yml"
    path.write_text(json.dumps(play(kube, namespace, suffix, out)))
    scratch = tmp_path / f"tmp-{suffix}"
    scratch.mkdir(exist_ok=True)
    env = {
        "ANSIBLE_COLLECTIONS_PATH": str(ROOT / "collections"),
        "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
        "PATH": f"{ROOT / '.venv' / 'bin'}:/usr/bin:/bin",
        "TMPDIR": str(scratch),
        "HOME": str(Path.home()),
    }
    mark = kube.audit.mark()
    proc = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "ansible-playbook"), "-vvv", str(path), *extra],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stdout[-4000:]
    # Certificates and keys written from the kubeconfig are gone either way.
    assert not list(scratch.glob("px-airflow-*")), list(scratch.iterdir())
    events = kube.audit.events(mark, namespace=namespace)
    mine = [e for e in events if suffix in (e.get("objectRef") or {}).get("name", "")]
    writes = [e for e in mine if e["verb"] in ("create", "update", "patch", "delete")]
    return proc.stdout, json.loads(out.read_text()), mine, writes


def shape(result: dict) -> dict:
    """A result without what differs by name (the object names carry the suffix) or by time."""
    text = json.dumps(result)
    for suffix in ("here", "module"):
        text = text.replace(f"-{suffix}", "-X")
    data = json.loads(text)
    for key in ("applied", "read"):
        for obj in data[key].get("objects", []) + [
            r for q in data[key].get("results", []) for r in q.get("resources", [])
        ]:
            for field in ("uid", "resourceVersion", "creationTimestamp", "managedFields"):
                (obj.get("metadata") or obj).pop(field, None)
    for field in ("data", "resource_version", "data_digest"):  # the generated values differ, as they must
        data["generated"].pop(field, None)
    return data


def test_in_process_and_as_a_module_give_the_same_results_requests_and_writes(kube: Kube, namespace: str, tmp_path):
    outcomes = {}
    for suffix, extra in (("here", ()), ("module", ("-e", "px_in_process=false"))):
        first = run(kube, namespace, suffix, tmp_path, *extra)
        second = run(kube, namespace, suffix, tmp_path, *extra)
        outcomes[suffix] = (first, second)
        output = first[0] + second[0]
        if suffix == "here":
            assert output.count(HERE) == 6, output[-3000:]
            assert "AnsiballZ_apply.py" not in output and "AnsiballZ_secrets.py" not in output
        else:
            assert HERE not in output
            assert output.count("AnsiballZ_apply.py") >= 2 and "px_in_process is false" in output
        # The task with an environment runs as a module either way.
        assert output.count(f"{AS_MODULE} (the task sets an environment)") == 2 or suffix == "module"
        assert "AnsiballZ_portworx_info.py" in output
        # The generated token never shows, in the results or in -vvv's invocation.
        secret = kube.json("get", "secret", f"s-{suffix}", "-n", namespace)["data"]["token"]
        token = base64.b64decode(secret).decode()
        assert len(token) >= 24 and token not in output

    (here1, here2), (mod1, mod2) = outcomes["here"], outcomes["module"]
    # The same results, first run (creates) and second (converged).
    assert shape(here1[1]) == shape(mod1[1])
    assert shape(here2[1]) == shape(mod2[1])
    assert here1[1]["applied"]["changed"] and here1[1]["generated"]["changed"]
    assert not here2[1]["applied"]["changed"] and not here2[1]["generated"]["changed"]
    # The same requests and writes: two creates at first, none when converged.
    for h, m in ((here1, mod1), (here2, mod2)):
        assert [(e["verb"], e["objectRef"]["resource"]) for e in h[2]] == [
            (e["verb"], e["objectRef"]["resource"]) for e in m[2]
        ]
    assert sorted(e["verb"] for e in here1[3]) == ["create", "create"]
    assert here2[3] == [] and mod2[3] == []
