#!/usr/bin/python
# Copyright: px.airflow contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: preflight
short_description: Refuse settings a deployment cannot honour, before anything is written
version_added: 0.1.0
description:
  - Checks a list of settings, each named after the variable a user wrote, against a rule, and
    fails with one message per problem, each naming the setting, its value and the rule, and the fix
    where there is one. It never writes to the cluster; it only reads what the rules compare with
    (a claim's size, the PostgreSQL image of a running StatefulSet, the workloads in a namespace,
    the database of an existing release).
  - The roles of this collection run it before their first write, and C(px.airflow.site) runs the
    checks of every role before the first role writes anything.
author:
  - px.airflow contributors (@px-airflow)
extends_documentation_fragment:
  - px.airflow.k8s_auth
  - px.airflow.attributes
  - px.airflow.attributes.INFO_MODULE
options:
  checks:
    description: The settings to check.
    type: list
    elements: dict
    required: true
    suboptions:
      setting:
        description: The name of the setting (the variable a user sets), used in the messages.
        type: str
        required: true
      value:
        description: Its value.
        type: raw
      rule:
        description:
          - V(namespace) a valid namespace that does not belong to Kubernetes (C(kube-*), C(default))
            and holds no workloads of another release unless C(params.allow_foreign) (C(params.release)
            names ours).
          - V(object_names) a release name (a DNS-1035 label) that keeps every object name in
            C(params.names) (a list of C(kind) and C(name)) within Kubernetes' limits.
          - V(dns_label), V(dns_subdomain) Kubernetes name rules; V(not_empty) (and, with C(params.argument)
            naming the command it is passed to, not starting with C(-)).
          - V(quantity) a Kubernetes quantity (C(params.resource) storage, memory or cpu; storage and
            memory need a unit).
          - V(resources) container resources per component (C(params.components)), or one entry with
            C(params.single); requests no larger than limits.
          - V(claim_size) a size that does not shrink the live claim C(params.claim) in C(params.namespace).
          - V(registry) a registry host and path, without a scheme or a trailing slash.
          - V(image) an image reference whose tag's major version is C(params.major).
          - V(postgres_image) an image reference whose PostgreSQL major version is the one of the live
            StatefulSet C(params.statefulset) (newer only with C(params.allow_upgrade)).
          - V(cron) a CronJob schedule; V(port) a TCP port; V(integer) a whole number between
            C(params.min) and C(params.max).
          - V(keys) a dictionary with only the keys C(params.allowed) (and C(params.required)).
          - V(airflow_config) sections and keys Airflow knows, values of their types, no secrets, the
            KubernetesExecutor only.
          - V(host) a host name or address, not a URL.
          - V(database_mode) no switch between an internal and an external database of a deployed
            release unless C(params.allow_switch).
        type: str
        required: true
        choices: [namespace, object_names, dns_label, dns_subdomain, not_empty, quantity, resources, claim_size,
                  registry, image, postgres_image, cron, port, integer, keys, airflow_config, host, database_mode]
      params:
        description:
          - The rule's parameters. With C(each=true), O(checks[].value) is a list and the rule applies
            to every element.
        type: dict
  aliases:
    description:
      - The settings a playbook fills from shared ones, so that messages name what the user wrote. Each key is
        a setting of O(checks[].setting); its value a dictionary with C(setting) (the shared setting's name) and
        C(value) (its value). A check is named after the shared setting only while its value is the shared
        one's, so a role setting given on its own is named as itself.
    type: dict
    default: {}
  read_cluster:
    description:
      - Read the live objects the rules compare with. V(false) checks the settings alone, as if
        nothing were deployed, and needs no cluster (for rendering manifests).
    type: bool
    default: true
seealso:
  - name: Kubernetes object names
    description: The naming rules the name checks apply.
    link: https://kubernetes.io/docs/concepts/overview/working-with-objects/names/
  - name: Airflow configuration reference
    description: The sections and options the C(airflow_config) rule knows.
    link: https://airflow.apache.org/docs/apache-airflow/stable/configurations-ref.html
"""

EXAMPLES = r"""
- name: Refuse what the stack cannot honour
  px.airflow.preflight:
    checks:
      - {setting: px_namespace, rule: namespace, value: "{{ px_namespace }}", params: {release: af}}
      - {setting: postgres_storage_size, rule: claim_size, value: 8Gi,
         params: {namespace: airflow, claim: data-af-postgresql-0}}
      - {setting: airflow_log_cleanup_schedule, rule: cron, value: "17 3 * * *"}
"""

RETURN = r"""
problems:
  description: One message per problem found (empty when the task succeeds).
  returned: always
  type: list
  elements: str
checked:
  description: The number of checks run.
  returned: always
  type: int
objects:
  description:
    - The objects the checks read, each by its API path, as read (V(null) when it does not exist), so
      that a later task can use them instead of reading them again. Lists and Secrets are left out.
  returned: success
  type: dict
  sample:
    /apis/apps/v1/namespaces/airflow/statefulsets/af-postgresql: {kind: StatefulSet, metadata: {name: af-postgresql}}
    /api/v1/namespaces/airflow/persistentvolumeclaims/af-dags: null
  version_added: 0.2.0
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.px.airflow.plugins.module_utils.args import auth_argument_spec
from ansible_collections.px.airflow.plugins.module_utils.connection import kube_service
from ansible_collections.px.airflow.plugins.module_utils.module import run_module
from ansible_collections.px.airflow.plugins.module_utils.preflight import RULES, problems, redact_secrets

ARGUMENT_SPEC = {
    "checks": {
        "type": "list",
        "elements": "dict",
        "required": True,
        "options": {
            "setting": {"type": "str", "required": True},
            "value": {"type": "raw"},
            "rule": {"type": "str", "required": True, "choices": list(RULES)},
            "params": {"type": "dict"},
        },
    },
    "aliases": {"type": "dict", "default": {}},
    "read_cluster": {"type": "bool", "default": True},
}


def _single(read):
    """What the checks read, lists and Secrets left out (and managedFields, which nobody reuses)."""
    shown = {}
    for path, obj in read.items():
        if "/secrets/" in path or str((obj or {}).get("kind", "")).endswith("List"):
            continue
        if obj:
            obj = dict(obj, metadata={k: v for k, v in obj["metadata"].items() if k != "managedFields"})
        shown[path] = obj
    return shown


def _body(module):
    service, read = None, {}

    def reader(path):
        # Each path once: several roles' checks read the same namespace and StatefulSet.
        nonlocal service
        if path not in read:
            if service is None:
                service = kube_service(module.params)
            read[path] = service.get_path(path)
        return read[path]

    found = problems(
        module.params["checks"], reader if module.params["read_cluster"] else None, module.params["aliases"]
    )
    # A secret given in airflow_config is refused, and kept out of the result's module_args too.
    redact_secrets(module.params["checks"])
    result = {"changed": False, "problems": found, "checked": len(module.params["checks"])}
    if found:
        module.fail_json(
            msg="%d setting%s cannot be honoured; nothing was changed:\n- %s"
            % (len(found), "" if len(found) == 1 else "s", "\n- ".join(found)),
            **result,
        )
    result["objects"] = _single(read)
    return result


def module_kwargs():
    """AnsibleModule's arguments; the action plugin validates with the same when it runs the code in-process."""
    return dict(argument_spec=dict(auth_argument_spec(), **ARGUMENT_SPEC), supports_check_mode=True)


def execute(module):
    run_module(module, _body)


def main():
    execute(AnsibleModule(**module_kwargs()))


if __name__ == "__main__":
    main()
