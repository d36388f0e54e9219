#!/usr/bin/env bash
# The main job: deploy the stack and demo-test it (playbooks/site.yml).
#   - a cluster is configured (a kubeconfig, and a context named with K8S_AUTH_CONTEXT or
#     -e px_context=NAME): site.yml runs against it;
#   - nothing is configured (no kubeconfig, no context): the whole stack runs on the local real
#     cluster (px-cluster: Kubernetes built here from upstream sources, Portworx played by a
#     stand-in), and says so plainly (tools/local_deploy.py).
set -euo pipefail
cd "$(dirname "$0")/.."
kubeconfig="${K8S_AUTH_KUBECONFIG:-${KUBECONFIG:-}}"
[ -z "$kubeconfig" ] && [ -f "$HOME/.kube/config" ] && kubeconfig="$HOME/.kube/config"
context="${K8S_AUTH_CONTEXT:-}"
case " $* " in *px_context=*) context=given ;; esac
if [ -z "$kubeconfig" ] && [ -z "$context" ]; then
  exec .venv/bin/python tools/local_deploy.py -- "$@"
fi
exec .venv/bin/ansible-playbook playbooks/site.yml "$@"
