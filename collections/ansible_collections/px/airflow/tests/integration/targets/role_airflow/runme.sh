#!/usr/bin/env bash
# The px.airflow.airflow and px.airflow.dags roles through the four steps, each its own
# ansible-playbook run so that the play recap counts what they changed (check, run, check, run:
# changed, changed, unchanged, unchanged), on top of the storage and postgres roles (setup.yml);
# then the px.airflow.demo role runs portworx-demo on the release (a DAG run is a change by nature,
# so it is not part of the four steps) and its JUnit report is read back, and the release is read
# back with kubernetes.core.k8s_info (verify.yml). The cluster comes from integration_config.yml
# (written by tools/gates.py): ansible-test gives a script target no variables.
set -eu -o pipefail

config="$(cd ../.. && pwd)/integration_config.yml"
run_id="${RANDOM}${RANDOM}"
report="${OUTPUT_DIR}/demo-junit.xml"
vars=(-i "${INVENTORY_PATH}" -e "@${config}" -e "run_id=${run_id}" -e "demo_junit_path=${report}")
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

ansible-playbook "${vars[@]}" demo.yml | tee "$log"
grep -q 'failures="0"' "$report" || { cat "$report"; exit 1; }
grep -q '<testcase' "$report" || { cat "$report"; exit 1; }
echo "demo: $(grep -o '<testsuite [^>]*>' "$report" | head -1)"

ansible-playbook "${vars[@]}" verify.yml
