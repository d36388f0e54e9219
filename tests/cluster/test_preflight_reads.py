"""What px.airflow.preflight hands on of what it read, on the local real cluster.

The preflight reads a claim, a StatefulSet, a Secret and the namespace's workloads to check settings
against them; it returns the single objects among them (by API path) so that a role need not read
them again, and never a Secret or a list. A real claim and a real Secret are created; the module's
answer is compared with what kubectl reads back.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

from helpers import run_playbook

from .kube import Kube


def test_the_preflight_returns_the_objects_it_read_but_no_secret_and_no_list(
    kube: Kube, namespace: str, tmp_path: Path
) -> None:
    ns = namespace
    password = "Pw-preflight-reads-4b1c"
    kube.apply(
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": "data", "namespace": ns},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "storageClassName": "px-test-no-such-class",  # stays Pending: only its size matters here
                "resources": {"requests": {"storage": "2Gi"}},
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "db-external", "namespace": ns},
            "data": {"password": base64.b64encode(password.encode()).decode()},
        },
    )
    checks = [
        {"setting": "px_namespace", "rule": "namespace", "value": ns, "params": {"release": "af"}},
        {"setting": "size", "rule": "claim_size", "value": "3Gi", "params": {"namespace": ns, "claim": "data"}},
        {"setting": "other", "rule": "claim_size", "value": "1Gi", "params": {"namespace": ns, "claim": "none"}},
        {
            "setting": "postgres_mode",
            "rule": "database_mode",
            "value": "external",
            "params": {"namespace": ns, "statefulset": "db", "external_secret": "db-external"},
        },
    ]
    play = [
        {
            "hosts": "localhost",
            "gather_facts": False,
            "tasks": [{"name": "preflight", "px.airflow.preflight": {**kube.module_auth(), "checks": checks}}],
        }
    ]
    path = tmp_path / "play.yml"
    path.write_text(json.dumps(play))
    result = run_playbook(path, timeout=300)
    assert result.rc == 0, result.stdout[-3000:]
    objects = result.result("preflight")["objects"]

    claim_path = f"/api/v1/namespaces/{ns}/persistentvolumeclaims/data"
    live = kube.json("get", "pvc", "data", "-n", ns)
    assert objects[claim_path]["metadata"]["uid"] == live["metadata"]["uid"]
    assert objects[claim_path]["spec"]["resources"]["requests"]["storage"] == "2Gi"
    assert "managedFields" not in objects[claim_path]["metadata"]
    # Read and not found: null, so a role knows it need not look for them either.
    assert objects[f"/api/v1/namespaces/{ns}/persistentvolumeclaims/none"] is None
    assert objects[f"/apis/apps/v1/namespaces/{ns}/statefulsets/db"] is None
    # The Secret was read (database_mode) and the workloads listed (namespace), and neither is handed on.
    assert not [p for p in objects if "/secrets/" in p], sorted(objects)
    assert not [p for p in objects if p.endswith(("/deployments", "/statefulsets", "/daemonsets", "/cronjobs"))]
    missing = [f"/api/v1/namespaces/{ns}/persistentvolumeclaims/none", f"/apis/apps/v1/namespaces/{ns}/statefulsets/db"]
    assert sorted(objects) == sorted([claim_path, *missing])
    assert password not in result.stdout
