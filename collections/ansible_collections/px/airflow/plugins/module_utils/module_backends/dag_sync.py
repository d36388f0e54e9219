# Copyright: px.airflow contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The dag_sync module's backend: compare the tree with the version on the volume, send what changed."""

from __future__ import annotations

import base64
import hashlib
import inspect
import json
import os
import subprocess
import sys

from ansible_collections.px.airflow.plugins.module_utils import dagsync
from ansible_collections.px.airflow.plugins.module_utils.errors import ApiFailure, InvalidInput, PxAirflowError
from ansible_collections.px.airflow.plugins.module_utils.service import STRATEGIC_MERGE_PATCH, label, ref
from ansible_collections.px.airflow.plugins.module_utils.waiter import Waiter, check_wait_options

# A ConfigMap holds at most 1 MiB; base64 grows content by a third. Keep a margin for metadata.
CONFIGMAP_PAYLOAD = 700 * 1024
VERSION_KEY = "version"
LABEL = "px.airflow/dag-sync"


def validate(params):
    check_wait_options(params)
    if params["keep_versions"] < 1:
        raise InvalidInput("keep_versions must be at least 1 (got %d)" % params["keep_versions"])
    if not 0 < params["max_file_size"] <= CONFIGMAP_PAYLOAD:
        raise InvalidInput(
            "max_file_size must be between 1 and %d bytes: a file travels in one ConfigMap, which "
            "Kubernetes limits to 1 MiB" % CONFIGMAP_PAYLOAD
        )
    if not params["image"].strip():
        raise InvalidInput("image must name an image with python3, for example python:3.12-slim")


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


class DagSyncBackend:
    def __init__(self, module, service):
        self.module = module
        self.params = module.params
        self.service = service
        self.waiter = Waiter(service, self.params["wait_sleep"])
        self.ns = self.params["namespace"]
        self.state = ref("v1", "ConfigMap", "%s-sync-state" % self.params["pvc"], self.ns)

    @staticmethod
    def check(module):
        validate(module.params)

    def run(self):
        try:
            return self._run()
        except dagsync.SyncError as exc:
            raise InvalidInput(str(exc)) from exc

    def _run(self):
        params = self.params
        files = dagsync.scan_tree(params["src"], params["exclude"], params["max_file_size"], params["max_total_size"])
        version = dagsync.version_of(files)
        if len(json.dumps(files)) > CONFIGMAP_PAYLOAD:
            raise InvalidInput(
                "src holds %d files, too many for the sync's manifest (a ConfigMap, limited to 1 MiB); "
                "exclude files Airflow does not need" % len(files)
            )
        state = self.service.get(self.state)
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
                "activeDeadlineSeconds": params["wait_timeout"],
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
            for obj in [*config_maps, program, job]:
                self.service.create(obj)
            summary = self._wait(job)
        finally:
            self._cleanup(version)
        return summary, sent

    def _wait(self, job):
        """The Job's summary (the last line of its log) once it completes; its explanation if not."""
        name = job["metadata"]["name"]
        try:
            # The Job's own deadline (activeDeadlineSeconds) ends it first; the margin lets it say so.
            self.waiter.wait([job], self.params["wait_timeout"] + 30)
        except PxAirflowError as exc:
            raise PxAirflowError(
                "The DAG sync Job %s/%s did not complete (image %s); the volume still serves the previous "
                "version.\n%s" % (self.ns, name, self.params["image"], exc.msg)
            ) from None
        pods = self.service.list("v1", "Pod", self.ns, "job-name=%s" % name)
        for pod in sorted(pods, key=lambda p: p["metadata"].get("creationTimestamp", ""), reverse=True):
            try:
                log = self.service.pod_log(self.ns, pod["metadata"]["name"], 50)
            except ApiFailure:
                continue
            try:
                return json.loads(log.strip().splitlines()[-1])
            except (ValueError, IndexError):
                return {"log": log[-2000:]}
        return {}

    def _cleanup(self, version):
        selector = "%s=%s,px.airflow/dag-sync-version=%s" % (LABEL, self.params["pvc"], version[:16])
        for job in self.service.list("batch/v1", "Job", self.ns, selector):
            self.service.delete(ref("batch/v1", "Job", job["metadata"]["name"], self.ns), propagation="Background")
        for cm in self.service.list("v1", "ConfigMap", self.ns, selector):
            self.service.delete(ref("v1", "ConfigMap", cm["metadata"]["name"], self.ns))

    def _record(self, state, version, old_files, files):
        """Record the synced tree: one key per file, so a later sync patches only what changed.

        Written with the resourceVersion read at the start: a second sync of the same claim that
        ran meanwhile makes this fail (409) rather than be overwritten.
        """
        what = "record the synced version in %s" % label(self.state)
        if state is None or old_files is None:
            body = dict(
                self.state,
                metadata=dict(self.state["metadata"], labels={LABEL: self.params["pvc"]}),
                data=state_data(version, files),
            )
            if state is None:
                self.service.create(body)
            else:
                self.service.replace(body, state["metadata"]["resourceVersion"], what)
            return
        added, modified, removed = dagsync.compare(old_files, files)
        data = {state_key(path): None for path in removed}
        data.update(state_data(version, {path: files[path] for path in added + modified}))
        self.service.patch(
            self.state,
            {"data": data},
            STRATEGIC_MERGE_PATCH,
            resource_version=state["metadata"]["resourceVersion"],
            what=what,
        )


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
