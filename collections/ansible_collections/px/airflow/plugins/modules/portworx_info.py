#!/usr/bin/python
# Copyright: px.airflow contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: portworx_info
short_description: Tell whether Portworx is installed and healthy in a Kubernetes cluster
version_added: 0.1.0
description:
  - Reads, through the Kubernetes API, what shows whether Portworx is installed and healthy,
    namely the CSIDriver C(pxd.portworx.com), the Portworx C(StorageCluster) and its phase, the
    C(StorageNode) objects, the C(portworx-api) Service and Stork.
  - Does not fail when Portworx is absent; it reports RV(installed=false). It fails only when
    the Kubernetes API itself cannot be reached, naming the kubeconfig and context it tried.
author:
  - px.airflow contributors (@px-airflow)
extends_documentation_fragment:
  - px.airflow.k8s_auth
  - px.airflow.attributes
  - px.airflow.attributes.INFO_MODULE
options: {}
seealso:
  - module: px.airflow.storage_class
  - name: Portworx on Kubernetes
    description: Portworx's documentation on installing Portworx with its operator.
    link: https://docs.portworx.com/portworx-enterprise/platform/kubernetes
"""

EXAMPLES = r"""
- name: Look for Portworx
  px.airflow.portworx_info:
    context: prod-cluster
  register: __px

- name: Stop unless Portworx is healthy
  ansible.builtin.assert:
    that: __px.healthy
    fail_msg: "Portworx is {{ 'not installed' if not __px.installed else 'in phase ' ~ __px.phase }}"
"""

RETURN = r"""
installed:
  description: Whether Portworx is installed (its CSIDriver or a StorageCluster exists).
  returned: always
  type: bool
  sample: true
healthy:
  description:
    - Whether the StorageCluster's phase is C(Running) (or C(Online), as operators before late
      2022 report).
  returned: always
  type: bool
  sample: true
provisioners:
  description:
    - The Portworx provisioners available, the CSI one C(pxd.portworx.com) and the in-tree
      C(kubernetes.io/portworx-volume).
  returned: always
  type: list
  elements: str
  sample: [pxd.portworx.com, kubernetes.io/portworx-volume]
csi:
  description: Whether the CSIDriver C(pxd.portworx.com) exists.
  returned: always
  type: bool
storage_cluster:
  description: The StorageCluster's name, namespace and phase, or null when there is none.
  returned: always
  type: dict
  sample: {name: px-cluster, namespace: portworx, phase: Running}
phase:
  description: The StorageCluster's C(status.phase), or null.
  returned: always
  type: str
  sample: Running
storage_nodes:
  description: The number of Portworx storage nodes that are online.
  returned: always
  type: int
  sample: 3
nodes_total:
  description: The number of StorageNode objects, online or not.
  returned: always
  type: int
  sample: 3
version:
  description: The Portworx version, from the StorageCluster's status or its image tag, where known.
  returned: always
  type: str
  sample: 3.2.0
api_service:
  description: Whether the C(portworx-api) Service exists.
  returned: always
  type: bool
stork:
  description: Whether Stork (the C(stork) Deployment) is installed.
  returned: always
  type: bool
namespace:
  description: The namespace Portworx runs in, where known.
  returned: always
  type: str
  sample: portworx
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.px.airflow.plugins.module_utils.args import auth_argument_spec
from ansible_collections.px.airflow.plugins.module_utils.module import run_backend
from ansible_collections.px.airflow.plugins.module_utils.portworx import PortworxInfoBackend


def module_kwargs():
    """AnsibleModule's arguments; the action plugin validates with the same when it runs the code in-process."""
    return dict(argument_spec=auth_argument_spec(), supports_check_mode=True)


def execute(module):
    run_backend(module, PortworxInfoBackend)


def main():
    execute(AnsibleModule(**module_kwargs()))


if __name__ == "__main__":
    main()
