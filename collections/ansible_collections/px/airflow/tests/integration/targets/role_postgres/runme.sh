#!/usr/bin/env bash
# The px.airflow.postgres role through the four steps, each its own ansible-playbook run so that the
# play recap counts what the role changed (check, run, check, run: changed, changed, unchanged,
# unchanged); then the database is read back with kubernetes.core.k8s_info (verify.yml) and a size
# that would shrink its claim is refused before any write. ansible-test gives a script target no
# variables, so the cluster comes from integration_config.yml (written by tools/gates.py).
set -eu -o pipefail

config="$(cd ../.. && pwd)/integration_config.yml"
run_id="${RANDOM}${RANDOM}"
vars=(-i "${INVENTORY_PATH}" -e "@${config}" -e "pg_ns=it-postgres-${run_id}" -e "pg_class=px-it-pg-${run_id}")
log="${OUTPUT_DIR}/step.log"

cleanup() {
    ansible-playbook "${vars[@]}" cleanup.yml >/dev/null || echo "cleanup failed" >&2
}
trap cleanup EXIT

ansible-playbook "${vars[@]}" setup.yml

changed_in() {
    sed -n 's/^testhost .* changed=\([0-9]*\) .*/\1/p' "$log"
}

expected=(changed changed unchanged unchanged)
for step in 0 1 2 3; do
    args=()
    if [ $((step % 2)) -eq 0 ]; then args=(--check); fi
    ansible-playbook "${vars[@]}" "${args[@]}" converge.yml | tee "$log"
    count="$(changed_in)"
    echo "step $((step + 1)) (${args[*]:-run}): changed=${count}, expected ${expected[$step]}"
    if [ "${expected[$step]}" = changed ] && [ "${count}" -eq 0 ]; then exit 1; fi
    if [ "${expected[$step]}" = unchanged ] && [ "${count}" -ne 0 ]; then exit 1; fi
done

ansible-playbook "${vars[@]}" verify.yml

# A size that would shrink the live claim: refused by the preflight, nothing written.
if ansible-playbook "${vars[@]}" -e postgres_storage_size=512Mi converge.yml > "$log" 2>&1; then
    echo "a shrinking postgres_storage_size was accepted" >&2
    exit 1
fi
grep -q "postgres_storage_size: '512Mi' would shrink the claim it-postgres-${run_id}/data-af-postgresql-0, which holds 1Gi" "$log" \
    || { cat "$log"; exit 1; }
grep -q "changed=0 " "$log" || { cat "$log"; exit 1; }
echo "refused: $(grep -o "postgres_storage_size: '512Mi' would shrink[^.]*" "$log" | head -1)"
