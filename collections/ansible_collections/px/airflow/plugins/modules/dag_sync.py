#!/usr/bin/python
# Copyright: px.airflow contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: dag_sync
short_description: Sync a directory of DAGs onto the shared ReadWriteMany DAGs volume
version_added: 0.1.0
description:
  - Copies a local DAG tree onto the DAGs volume every Airflow pod reads, as a new version in a
    content-addressed store (files named by their sha256, one manifest per version, a version
    directory of hard links), then switches the volume's C(current) link atomically, so the
    dag-processor never sees a half-written set.
  - Only content the volume lacks travels, in ConfigMaps (each under the 1 MiB object limit) mounted
    by a short Job that runs a small standard-library Python program in a small image. No
    C(pods/exec) rights are needed. The ConfigMaps and the Job are removed afterwards.
  - The synced tree's version is recorded in a ConfigMap only after the Job succeeded, so a re-run
    with an unchanged tree sends no write at all. O(force=true) syncs again regardless, for a
    volume changed by hand.
author:
  - px.airflow contributors (@px-airflow)
extends_documentation_fragment:
  - px.airflow.k8s_auth
  - px.airflow.attributes
attributes:
  check_mode:
    support: full
    details:
      - Reports the files that would be added, changed and removed.
  diff_mode:
    support: full
    details:
      - Lists the files added, changed and removed.
  idempotent:
    support: full
options:
  src:
    description: The local directory of DAGs.
    type: path
    required: true
  namespace:
    description: Namespace of the claim.
    type: str
    required: true
  pvc:
    description: The DAGs volume's claim (ReadWriteMany).
    type: str
    required: true
  keep_versions:
    description:
      - Versions kept on the volume. The previous version is always kept too, since readers on
        NFS-backed sharedv4 volumes may still hold it.
    type: int
    default: 3
  exclude:
    description: Glob patterns of file or directory names left out.
    type: list
    elements: str
    default: [__pycache__, .git, "*.pyc"]
  validate:
    description:
      - Parse the tree with the local Airflow before syncing and refuse files with import errors,
        unless O(force=true). Needs Airflow installed where the module runs.
      - The tree is parsed only when there is something to sync (its version differs from the one on
        the volume, or O(force=true)), so a converged re-run does not start Airflow.
    type: bool
    default: false
  force:
    description: Sync even when the recorded version matches, and sync files with import errors.
    type: bool
    default: false
  max_file_size:
    description: Largest file accepted, in bytes (a file travels in one ConfigMap).
    type: int
    default: 524288
  max_total_size:
    description: Largest tree accepted, in bytes.
    type: int
    default: 104857600
  image:
    description: Image of the sync Job; any image with python3 works (use a mirror in air-gapped clusters).
    type: str
    default: python:3.12-slim
  image_pull_secrets:
    description: Names of image pull Secrets for the sync Job.
    type: list
    elements: str
    default: []
  run_as_user:
    description: User the sync Job writes as (Airflow's image runs as 50000).
    type: int
    default: 50000
  run_as_group:
    description: Group the sync Job writes as (Airflow's image uses group 0).
    type: int
    default: 0
  timeout:
    description: Seconds to wait for the sync Job.
    type: int
    default: 300
seealso:
  - module: px.airflow.dag_run
"""

EXAMPLES = r"""
- name: Sync the repo's dags/ onto the DAGs volume
  px.airflow.dag_sync:
    src: "{{ playbook_dir }}/../dags"
    namespace: airflow
    pvc: af-dags
    validate: true
"""

RETURN = r"""
version:
  description: The version now current on the volume (the tree's hash).
  returned: always
  type: str
previous_version:
  description: The version recorded before this run, if any.
  returned: always
  type: str
added:
  description: Files added.
  returned: always
  type: list
  elements: str
modified:
  description: Files whose content or mode changed.
  returned: always
  type: list
  elements: str
removed:
  description: Files removed.
  returned: always
  type: list
  elements: str
bytes_sent:
  description: Bytes of file content sent to the cluster (only what the volume lacked).
  returned: always
  type: int
files:
  description: Number of files in the tree.
  returned: always
  type: int
"""

import base64
import hashlib
import inspect
import json
import os
import subprocess
import sys
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.px.airflow.plugins.module_utils import dagsync
from ansible_collections.px.airflow.plugins.module_utils.args import auth_argument_spec
from ansible_collections.px.airflow.plugins.module_utils.client import (
    STRATEGIC_MERGE_PATCH,
    build_api_client,
    namespaced,
    read_object,
    read_pod_log,
    request_json,
)
from ansible_collections.px.airflow.plugins.module_utils.errors import ApiFailure, InvalidInput, PxAirflowError
from ansible_collections.px.airflow.plugins.module_utils.module import run_module

ARGUMENT_SPEC = {
    "src": {"type": "path", "required": True},
    "namespace": {"type": "str", "required": True},
    "pvc": {"type": "str", "required": True},
    "keep_versions": {"type": "int", "default": 3},
    "exclude": {"type": "list", "elements": "str", "default": list(dagsync.DEFAULT_EXCLUDES)},
    "validate": {"type": "bool", "default": False},
    "force": {"type": "bool", "default": False},
    "max_file_size": {"type": "int", "default": 512 * 1024},
    "max_total_size": {"type": "int", "default": 100 * 1024 * 1024},
    "image": {"type": "str", "default": "python:3.12-slim"},
    "image_pull_secrets": {"type": "list", "elements": "str", "default": [], "no_log": False},
    "run_as_user": {"type": "int", "default": 50000},
    "run_as_group": {"type": "int", "default": 0},
    "timeout": {"type": "int", "default": 300},
}

# A ConfigMap holds at most 1 MiB; base64 grows content by a third. Keep a margin for metadata.
CONFIGMAP_PAYLOAD = 700 * 1024
VERSION_KEY = "version"
LABEL = "px.airflow/dag-sync"


def _validate_params(params):
    if params["keep_versions"] < 1:
        raise InvalidInput("keep_versions must be at least 1 (got %d)" % params["keep_versions"])
    if not 0 < params["max_file_size"] <= CONFIGMAP_PAYLOAD:
        raise InvalidInput(
            "max_file_size must be between 1 and %d bytes: a file travels in one ConfigMap, which "
            "Kubernetes limits to 1 MiB" % CONFIGMAP_PAYLOAD
        )
    if not params["image"].strip():
        raise InvalidInput("image must name an image with python3, for example python:3.12-slim")
    if params["timeout"] < 1:
        raise InvalidInput("timeout must be at least 1 second")


def parse_with_airflow(src, files):
    """Import errors of the tree under the local Airflow, as {path: message}."""
    script = (
        "import json, sys\n"
        "from airflow.dag_processing.dagbag import DagBag\n"
        "bag = DagBag(dag_folder=sys.argv[1], safe_mode=False)\n"
        "print(json.dumps(bag.import_errors))\n"
    )
    env = dict(os.environ, AIRFLOW__CORE__LOAD_EXAMPLES="False")
    proc = subprocess.run(
        [sys.executable, "-c", script, src], capture_output=True, text=True, timeout=300, env=env, check=False
    )
    if proc.returncode != 0:
        raise PxAirflowError(
            "validate=true needs Airflow where the module runs; parsing failed: %s" % proc.stderr.strip()[-1000:]
        )
    errors = json.loads(proc.stdout.strip().splitlines()[-1])
    return {os.path.relpath(path, src): message for path, message in errors.items()}


class DagSync:
    def __init__(self, module, client):
        self.module = module
        self.params = module.params
        self.client = client
        self.ns = self.params["namespace"]
        self.state_name = "%s-sync-state" % self.params["pvc"]

    def _path(self, plural, name=None):
        return namespaced("batch/v1" if plural == "jobs" else "v1", plural, self.ns, name)

    def _call(self, what, method, path, body=None, query=None, content_type=None):
        return request_json(self.client, method, path, what, body, query=query, content_type=content_type)

    def run(self):
        params = self.params
        files = dagsync.scan_tree(params["src"], params["exclude"], params["max_file_size"], params["max_total_size"])
        version = dagsync.version_of(files)
        if len(json.dumps(files)) > CONFIGMAP_PAYLOAD:
            raise InvalidInput(
                "src holds %d files, too many for the sync's manifest (a ConfigMap, limited to 1 MiB); "
                "exclude files Airflow does not need" % len(files)
            )
        state = read_object(
            self.client, self._path("configmaps", self.state_name), "read ConfigMap %s/%s" % (self.ns, self.state_name)
        )
        old_files, previous = read_state(state)
        added, modified, removed = dagsync.compare(old_files, files)
        result = {
            "version": version,
            "previous_version": previous,
            "added": added,
            "modified": modified,
            "removed": removed,
            "files": len(files),
            "bytes_sent": 0,
            "changed": False,
        }
        if self.module._diff:
            lines = ["+ %s" % p for p in added] + ["~ %s" % p for p in modified] + ["- %s" % p for p in removed]
            result["diff"] = {"prepared": "\n".join(lines) + ("\n" if lines else "")}
        if previous == version and not params["force"]:
            return result
        if params["validate"]:
            # Only what would be synced is parsed: the version on the volume passed this check already.
            self._refuse_import_errors(files)
        result["changed"] = True
        if self.module.check_mode:
            return result
        present = set(meta["sha256"] for meta in (old_files or {}).values()) if not params["force"] else set()
        needed = {}
        for path, meta in sorted(files.items()):
            if meta["sha256"] not in present and meta["sha256"] not in needed:
                needed[meta["sha256"]] = os.path.join(params["src"], *path.split("/"))
        if old_files is not None and not params["force"]:
            # Only what changed travels: the Job rebuilds the file list from the version on the volume.
            manifest = dagsync.delta(old_files, files, previous, version)
        else:
            manifest = {"version": version, "files": files}
        summary, sent = self._transfer(version, manifest, needed)
        result["bytes_sent"] = sent
        result["job"] = summary
        self._record(state, version, old_files, files)
        return result

    def _refuse_import_errors(self, files):
        errors = parse_with_airflow(self.params["src"], files)
        if errors and not self.params["force"]:
            raise InvalidInput(
                "%d DAG file(s) do not import under Airflow; fix them or set force=true: %s"
                % (
                    len(errors),
                    "; ".join("%s: %s" % (p, m.strip().splitlines()[-1]) for p, m in sorted(errors.items())),
                ),
                import_errors=errors,
            )

    def _labels(self, version):
        return {LABEL: self.params["pvc"], "px.airflow/dag-sync-version": version[:16]}

    def _blob_config_maps(self, version, needed):
        """ConfigMaps of binaryData, each under the object size limit."""
        batches, current, size = [], {}, 0
        for sha, path in needed.items():
            with open(path, "rb") as handle:
                data = base64.b64encode(handle.read()).decode("ascii")
            if current and size + len(data) > CONFIGMAP_PAYLOAD * 4 // 3:
                batches.append(current)
                current, size = {}, 0
            current[sha] = data
            size += len(data)
        if current:
            batches.append(current)
        prefix = "%s-sync-%s" % (self.params["pvc"], version[:10])
        return [
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "%s-%d" % (prefix, i), "namespace": self.ns, "labels": self._labels(version)},
                "binaryData": batch,
            }
            for i, batch in enumerate(batches)
        ]

    def _program_config_map(self, version, manifest):
        return {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": "%s-sync-%s-program" % (self.params["pvc"], version[:10]),
                "namespace": self.ns,
                "labels": self._labels(version),
            },
            "data": {"dagsync.py": inspect.getsource(dagsync), "manifest.json": json.dumps(manifest, sort_keys=True)},
        }

    def _job(self, version, config_maps, program):
        params = self.params
        name = "%s-sync-%s" % (params["pvc"], version[:10])
        sources = [{"configMap": {"name": cm["metadata"]["name"]}} for cm in config_maps]
        spec = {
            "restartPolicy": "Never",
            "automountServiceAccountToken": False,
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": params["run_as_user"],
                "runAsGroup": params["run_as_group"],
                "fsGroup": params["run_as_group"],
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "containers": [
                {
                    "name": "sync",
                    "image": params["image"],
                    "command": [
                        "python3",
                        "/sync/program/dagsync.py",
                        "apply",
                        "--root",
                        "/dags",
                        "--manifest",
                        "/sync/program/manifest.json",
                        "--incoming",
                        "/sync/incoming",
                        "--keep",
                        str(params["keep_versions"]),
                    ]
                    + (["--verify"] if params["force"] else []),
                    "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
                    "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}},
                    "volumeMounts": [
                        {"name": "dags", "mountPath": "/dags"},
                        {"name": "incoming", "mountPath": "/sync/incoming", "readOnly": True},
                        {"name": "program", "mountPath": "/sync/program", "readOnly": True},
                    ],
                }
            ],
            "volumes": [
                {"name": "dags", "persistentVolumeClaim": {"claimName": params["pvc"]}},
                {"name": "incoming", "projected": {"sources": sources}}
                if sources
                else {"name": "incoming", "emptyDir": {}},
                {"name": "program", "configMap": {"name": program["metadata"]["name"]}},
            ],
        }
        if params["image_pull_secrets"]:
            spec["imagePullSecrets"] = [{"name": secret} for secret in params["image_pull_secrets"]]
        return {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": name, "namespace": self.ns, "labels": self._labels(version)},
            "spec": {
                "backoffLimit": 1,
                "activeDeadlineSeconds": params["timeout"],
                "template": {"metadata": {"labels": self._labels(version)}, "spec": spec},
            },
        }

    def _transfer(self, version, manifest, needed):
        config_maps = self._blob_config_maps(version, needed)
        program = self._program_config_map(version, manifest)
        job = self._job(version, config_maps, program)
        sent = sum(len(base64.b64decode(v)) for cm in config_maps for v in cm["binaryData"].values())
        self._cleanup(version)  # leftovers of a sync killed half-way
        try:
            for cm in [*config_maps, program]:
                what = "create ConfigMap %s/%s" % (self.ns, cm["metadata"]["name"])
                self._call(what, "POST", self._path("configmaps"), cm)
            self._call("create Job %s/%s" % (self.ns, job["metadata"]["name"]), "POST", self._path("jobs"), job)
            summary = self._wait(job["metadata"]["name"])
        finally:
            self._cleanup(version)
        return summary, sent

    def _pod_log(self, job_name):
        query = [("labelSelector", "job-name=%s" % job_name)]
        pods = self._call("list the sync Job's pods", "GET", self._path("pods"), query=query)
        for pod in sorted(
            (pods or {}).get("items", []), key=lambda p: p["metadata"].get("creationTimestamp", ""), reverse=True
        ):
            try:
                return pod, read_pod_log(self.client, self.ns, pod["metadata"]["name"], 50)
            except ApiFailure:
                continue
        return None, ""

    def _wait(self, job_name):
        deadline = time.time() + self.params["timeout"] + 30
        delay = 0.2
        while True:
            job = read_object(
                self.client, self._path("jobs", job_name) + "/status", "read Job %s/%s" % (self.ns, job_name)
            )
            conditions = {
                c["type"]: c
                for c in ((job or {}).get("status") or {}).get("conditions") or []
                if c.get("status") == "True"
            }
            if "Complete" in conditions:
                _pod, log = self._pod_log(job_name)
                try:
                    return json.loads(log.strip().splitlines()[-1])
                except (ValueError, IndexError):
                    return {"log": log[-2000:]}
            if "Failed" in conditions or time.time() > deadline:
                pod, log = self._pod_log(job_name)
                why = conditions.get("Failed", {}).get("message") or "timed out after %d s" % self.params["timeout"]
                waiting = ""
                if pod is not None:
                    for status in (pod.get("status") or {}).get("containerStatuses") or []:
                        state = (status.get("state") or {}).get("waiting")
                        if state:
                            waiting = " Container %s is waiting: %s %s (image %s)." % (
                                status["name"],
                                state.get("reason", ""),
                                state.get("message", ""),
                                self.params["image"],
                            )
                raise PxAirflowError(
                    "The DAG sync Job %s/%s did not complete: %s.%s Its log: %s The volume still serves the previous "
                    "version." % (self.ns, job_name, why, waiting, log.strip()[-2000:] or "(none)")
                )
            time.sleep(delay)
            delay = min(delay * 1.5, 2.0)

    def _cleanup(self, version):
        selector = "%s=%s,px.airflow/dag-sync-version=%s" % (LABEL, self.params["pvc"], version[:16])
        query = [("labelSelector", selector)]
        jobs = self._call("list sync Jobs", "GET", self._path("jobs"), query=query)
        for job in (jobs or {}).get("items", []):
            self._delete("jobs", "Job", job["metadata"]["name"], [("propagationPolicy", "Background")])
        maps = self._call("list sync ConfigMaps", "GET", self._path("configmaps"), query=query)
        for cm in (maps or {}).get("items", []):
            self._delete("configmaps", "ConfigMap", cm["metadata"]["name"])

    def _delete(self, plural, kind, name, query=None):
        try:
            self._call("delete %s %s/%s" % (kind, self.ns, name), "DELETE", self._path(plural, name), query=query)
        except ApiFailure as exc:
            if exc.status != 404:
                raise

    def _record(self, state, version, old_files, files):
        """Record the synced tree: one key per file, so a later sync patches only what changed."""
        what = "record the synced version in ConfigMap %s/%s" % (self.ns, self.state_name)
        if state is None or old_files is None:
            body = {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": self.state_name, "namespace": self.ns, "labels": {LABEL: self.params["pvc"]}},
                "data": state_data(version, files),
            }
            if state is None:
                self._call(what, "POST", self._path("configmaps"), body)
            else:
                body["metadata"]["resourceVersion"] = state["metadata"]["resourceVersion"]
                self._call(what, "PUT", self._path("configmaps", self.state_name), body)
            return
        added, modified, removed = dagsync.compare(old_files, files)
        data = {state_key(path): None for path in removed}
        data.update(state_data(version, {path: files[path] for path in added + modified}))
        patch = {"metadata": {"resourceVersion": state["metadata"]["resourceVersion"]}, "data": data}
        self._call(what, "PATCH", self._path("configmaps", self.state_name), patch, content_type=STRATEGIC_MERGE_PATCH)


def state_key(path):
    """A ConfigMap key for a file path (keys allow only [-._a-zA-Z0-9])."""
    return "f-" + hashlib.sha1(path.encode("utf-8")).hexdigest()


def state_data(version, files):
    data = {VERSION_KEY: version}
    for path, meta in files.items():
        data[state_key(path)] = json.dumps([path, meta["sha256"], meta["mode"], meta["size"]])
    return data


def read_state(state):
    """(files, version) recorded in the state ConfigMap, or (None, None)."""
    data = (state or {}).get("data") or {}
    if VERSION_KEY not in data:
        return None, None
    files = {}
    for key, value in data.items():
        if key.startswith("f-"):
            path, sha, mode, size = json.loads(value)
            files[path] = {"sha256": sha, "mode": mode, "size": size}
    return files, data[VERSION_KEY]


def _body(module):
    _validate_params(module.params)
    try:
        return DagSync(module, build_api_client(module.params)).run()
    except dagsync.SyncError as exc:
        raise InvalidInput(str(exc)) from exc


def main():
    module = AnsibleModule(argument_spec=auth_argument_spec(ARGUMENT_SPEC), supports_check_mode=True)
    run_module(module, _body)


if __name__ == "__main__":
    main()
