# Copyright: px.airflow contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runs a module body (or backend) and turns px.airflow's typed errors into ``fail_json`` in one place."""

from __future__ import annotations

import traceback

from ansible_collections.px.airflow.plugins.module_utils.connection import kube_service, require_kubernetes
from ansible_collections.px.airflow.plugins.module_utils.errors import PxAirflowError


def run_module(module, body, needs_kubernetes=True):
    """Call ``body(module)`` (which returns the result dict) and exit or fail the module."""
    if needs_kubernetes:
        require_kubernetes(module)
    _unmask_kubeconfig_path(module)
    try:
        result = body(module)
    except PxAirflowError as exc:
        module.fail_json(msg=exc.msg, exception=traceback.format_exc(), **exc.details)
    module.exit_json(**result)


def run_backend(module, backend):
    """Run a module backend (module_utils/module_backends) against the module's cluster.

    The backend's ``check(module)``, when it has one, refuses bad input before the connection
    settings are even read.
    """

    def body(module):
        if hasattr(backend, "check"):
            backend.check(module)
        return backend(module, kube_service(module.params)).run()

    run_module(module, body)


def _unmask_kubeconfig_path(module):
    """Let error messages name the kubeconfig file.

    ``kubeconfig`` is no_log because it may be an inline dictionary holding credentials; a path
    is no secret, and masking it would hide which file was tried.
    """
    kubeconfig = module.params.get("kubeconfig")
    if isinstance(kubeconfig, str):
        module.no_log_values.discard(kubeconfig)
