#!/usr/bin/env bash
# The main job: deploy the stack and demo-test it (playbooks/site.yml).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -f playbooks/site.yml ]; then
  echo "deploy: playbooks/site.yml does not exist yet (it arrives with the demo-test issue); nothing was deployed." >&2
  exit 2
fi
exec .venv/bin/ansible-playbook playbooks/site.yml "$@"
