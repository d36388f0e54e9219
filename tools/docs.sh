#!/usr/bin/env bash
# Builds px.airflow's HTML docs site (modules, roles, environment variables) into out/docs with
# antsibull-docs and Sphinx, as the Ansible docsite renders a collection. Run by `make docs`.
#
# Offline by default: the build machines cannot fetch the intersphinx inventories of
# docs.ansible.com and docs.python.org, so links into those docs (common return values,
# kubernetes.core's modules, ...) are left as plain text and their warnings are not fatal.
# DOCS_ONLINE=1 keeps the inventories and treats every warning as an error, as a docs CI would.
# References inside the collection are checked either way (antsibull-docs --fail-on-error, and the
# docs gate: antsibull-docs lint-collection-docs --plugin-docs).
set -euo pipefail

ROOT="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="$ROOT/.venv/bin:$PATH"
export ANSIBLE_CONFIG="$ROOT/ansible.cfg"
export ANSIBLE_COLLECTIONS_PATH="$ROOT/collections"
SRC="$ROOT/out/docs-src"
DEST="$ROOT/out/docs"

rm -rf "$SRC" "$DEST"
mkdir -p "$SRC"
antsibull-docs sphinx-init --use-current --squash-hierarchy --fail-on-error \
    --project px.airflow --copyright "px.airflow contributors" --title px.airflow \
    --dest-dir "$SRC" px.airflow >/dev/null

if [ "${DOCS_ONLINE:-0}" != 1 ]; then
    cat >>"$SRC/conf.py" <<'EOF'

# Offline build (tools/docs.sh): no intersphinx inventories can be fetched, so references into
# docs.ansible.com and docs.python.org stay unresolved (ref.ref); the collection's own are
# checked by antsibull-docs.
intersphinx_mapping = {}
suppress_warnings = ['ref.ref']
EOF
fi

mkdir -p "$SRC/rst"
chmod og-w "$SRC/rst"  # antsibull-docs wants that directory writable only by its owner
(cd "$SRC" && antsibull-docs --config-file antsibull-docs.cfg collection --cleanup everything \
    --fail-on-error --use-current --squash-hierarchy --dest-dir rst px.airflow)
sphinx-build -b html -c "$SRC" "$SRC/rst" "$DEST" -W --keep-going -q
echo "docs: $DEST/index.html"
