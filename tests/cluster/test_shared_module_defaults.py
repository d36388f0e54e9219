"""One module_defaults block for both collections, on the local real cluster: kubernetes.core's
connection options (proxy_headers, persist_config, no_proxy) are accepted by every px.airflow
module, and both collections reach the same cluster with them. The kubeconfig option also takes a
KUBECONFIG-style list in px.airflow's modules (kubernetes.core's action plugin wants one file)."""

from __future__ import annotations

import json
import subprocess

from .kube import ROOT, Kube


def test_a_module_defaults_block_shared_by_both_collections(kube: Kube, cluster_dir, tmp_path):
    listed = f"{tmp_path / 'not-there'}:{cluster_dir / 'kubeconfig'}"
    auth = {
        "kubeconfig": str(cluster_dir / "kubeconfig"),
        "context": "px-local",
        "proxy_headers": {"user_agent": "shared-defaults/1.0"},
        "persist_config": False,
        "no_proxy": "172.31.250.1",
    }
    play = [
        {
            "hosts": "localhost",
            "gather_facts": False,
            "module_defaults": {"group/px.airflow.k8s": auth, "group/kubernetes.core.k8s": auth},
            "tasks": [
                {
                    "name": "core",
                    "kubernetes.core.k8s_info": {"kind": "Namespace", "name": "kube-system"},
                    "register": "core",
                },
                {
                    "name": "ours",
                    "px.airflow.objects_info": {
                        "queries": [{"api_version": "v1", "kind": "Namespace", "name": "kube-system"}]
                    },
                    "register": "ours",
                },
                {"name": "portworx", "px.airflow.portworx_info": {"kubeconfig": listed}, "register": "px"},
                {
                    "name": "save",
                    "ansible.builtin.copy": {
                        "content": "{{ {'core': core, 'ours': ours, 'px': px} | to_json }}",
                        "dest": str(tmp_path / "out.json"),
                    },
                },
            ],
        }
    ]
    path = tmp_path / "play.yml"
    path.write_text(json.dumps(play))
    env = {"ANSIBLE_COLLECTIONS_PATH": str(ROOT / "collections"), "PATH": f"{ROOT / '.venv' / 'bin'}:/usr/bin:/bin"}
    proc = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "ansible-playbook"), str(path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:]
    out = json.loads((tmp_path / "out.json").read_text())
    uid = kube.json("get", "namespace", "kube-system")["metadata"]["uid"]
    assert out["core"]["resources"][0]["metadata"]["uid"] == uid
    assert out["ours"]["results"][0]["resources"][0]["metadata"]["uid"] == uid
    assert out["px"]["installed"] is True
