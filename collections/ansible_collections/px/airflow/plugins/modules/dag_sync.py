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
  - px.airflow.wait
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
  wait_timeout:
    description:
      - Seconds to wait for the sync Job; it is also the Job's own deadline (C(activeDeadlineSeconds)).
      - C(timeout) is its earlier name, still accepted.
    aliases: [timeout]
    default: 300
    version_added: 0.2.0
  wait_sleep:
    version_added: 0.2.0
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

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.px.airflow.plugins.module_utils import dagsync
from ansible_collections.px.airflow.plugins.module_utils.args import auth_argument_spec
from ansible_collections.px.airflow.plugins.module_utils.module import run_backend
from ansible_collections.px.airflow.plugins.module_utils.module_backends.dag_sync import DagSyncBackend

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
    "wait_timeout": {"type": "int", "default": 300, "aliases": ["timeout"]},
    "wait_sleep": {"type": "int", "default": 2},
}


def module_kwargs():
    """AnsibleModule's arguments; the action plugin validates with the same when it runs the code in-process."""
    return dict(argument_spec=auth_argument_spec(ARGUMENT_SPEC), supports_check_mode=True)


def execute(module):
    run_backend(module, DagSyncBackend)


def main():
    execute(AnsibleModule(**module_kwargs()))


if __name__ == "__main__":
    main()
