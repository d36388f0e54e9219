#!/usr/bin/env bash
# Entrypoint of px-airflow's apache/airflow image, after the official image's /entrypoint
# (docs: docker-stack/entrypoint). What it keeps:
#   * `airflow <cmd> ...` and `<airflow subcommand> ...` run `airflow <cmd> ...`;
#   * `bash ...` and `python ...` are exec'd as given, and so is any other program on PATH;
#   * GID must be 0 (a warning for uid 50000 with another group, an error otherwise);
#   * umask 0002, HOME for an arbitrary uid, _AIRFLOW_DB_MIGRATE (or the old _AIRFLOW_DB_UPGRADE),
#     _AIRFLOW_WWW_USER_CREATE with _AIRFLOW_WWW_USER_PASSWORD[_CMD] and friends;
#   * the database check with CONNECTION_CHECK_MAX_COUNT / CONNECTION_CHECK_SLEEP_TIME.
# What differs: the database check runs only when CONNECTION_CHECK_MAX_COUNT is set above 0
# (the official image checks by default, which task pods without database credentials do not
# need), and _PIP_ADDITIONAL_REQUIREMENTS is refused (nothing can be downloaded here).
AIRFLOW_COMMAND="${1:-}"

set -euo pipefail

# As the official image: preload libstdc++ (static TLS block work-around).
if [[ -e "/usr/lib/$(uname -m)-linux-gnu/libstdc++.so.6" ]]; then
    export LD_PRELOAD="/usr/lib/$(uname -m)-linux-gnu/libstdc++.so.6"
fi

AIRFLOW_SUBCOMMANDS=" api-server assets backfill celery cheat-sheet config connections dag-processor dags db \
db-manager edge fab-db info jobs kerberos kubernetes partitions permissions-cleanup plugins pools providers \
roles rotate-fernet-key scheduler standalone state-store sync-perm tasks teams triggerer users variables version "

check_uid_gid() {
    if [[ "$(id -g)" == "0" ]]; then
        return
    fi
    if [[ "$(id -u)" == "50000" ]]; then
        >&2 echo "WARNING! You should run the image with GID (Group ID) set to 0 even if you use the 'airflow' user (UID=50000)."
        >&2 echo "         You started the image with UID=$(id -u) and GID=$(id -g)."
        return
    fi
    >&2 echo "ERROR! You should run the image with GID=0; you started it with UID=$(id -u) and GID=$(id -g)."
    exit 1
}

run_check_with_retries() {
    local cmd="$1" countdown="${CONNECTION_CHECK_MAX_COUNT}" last res
    while true; do
        set +e
        last="$(eval "${cmd} 2>&1")"
        res=$?
        set -e
        if [[ ${res} == 0 ]]; then
            return 0
        fi
        countdown=$((countdown - 1))
        if [[ ${countdown} -le 0 ]]; then
            >&2 echo "ERROR! Maximum number of retries (${CONNECTION_CHECK_MAX_COUNT}) reached."
            >&2 echo "Last check result:"
            >&2 echo "\$ ${cmd}"
            >&2 echo "${last}"
            exit 1
        fi
        >&2 echo -n "."
        sleep "${CONNECTION_CHECK_SLEEP_TIME}"
    done
}

create_www_user() {
    local password=""
    if [[ -n "${_AIRFLOW_WWW_USER_PASSWORD_CMD:-}" ]]; then
        password="$(eval "${_AIRFLOW_WWW_USER_PASSWORD_CMD}")"
        unset _AIRFLOW_WWW_USER_PASSWORD_CMD
    elif [[ -n "${_AIRFLOW_WWW_USER_PASSWORD:-}" ]]; then
        password="${_AIRFLOW_WWW_USER_PASSWORD}"
        unset _AIRFLOW_WWW_USER_PASSWORD
    fi
    if [[ -z "${password}" ]]; then
        >&2 echo "ERROR! Airflow Admin password not set via _AIRFLOW_WWW_USER_PASSWORD or _AIRFLOW_WWW_USER_PASSWORD_CMD!"
        exit 1
    fi
    airflow users create \
        --username "${_AIRFLOW_WWW_USER_USERNAME:-admin}" \
        --firstname "${_AIRFLOW_WWW_USER_FIRSTNAME:-Airflow}" \
        --lastname "${_AIRFLOW_WWW_USER_LASTNAME:-Admin}" \
        --email "${_AIRFLOW_WWW_USER_EMAIL:-airflowadmin@example.com}" \
        --role "${_AIRFLOW_WWW_USER_ROLE:-Admin}" \
        --password "${password}" || true
}

unset PIP_USER
check_uid_gid
umask 0002

# An arbitrary uid (OpenShift style, group 0) has no passwd entry: give it the airflow home.
if ! whoami &> /dev/null; then
    export HOME="${AIRFLOW_USER_HOME_DIR:-/home/airflow}"
fi

CONNECTION_CHECK_MAX_COUNT="${CONNECTION_CHECK_MAX_COUNT:-0}"
CONNECTION_CHECK_SLEEP_TIME="${CONNECTION_CHECK_SLEEP_TIME:-3}"
if [[ "${CONNECTION_CHECK_MAX_COUNT}" -gt 0 ]]; then
    run_check_with_retries "airflow db check"
fi

if [[ -n "${_AIRFLOW_DB_UPGRADE:-}" || -n "${_AIRFLOW_DB_MIGRATE:-}" ]]; then
    airflow db migrate || true
fi

if [[ -n "${_AIRFLOW_WWW_USER_CREATE:-}" ]]; then
    create_www_user
fi

if [[ -n "${_PIP_ADDITIONAL_REQUIREMENTS:-}" ]]; then
    >&2 echo "ERROR! _PIP_ADDITIONAL_REQUIREMENTS is not supported by this image: build a derived image instead."
    exit 1
fi

if [[ "${AIRFLOW_COMMAND}" == "bash" ]]; then
    shift
    exec /bin/bash "$@"
elif [[ "${AIRFLOW_COMMAND}" == "python" ]]; then
    shift
    exec python "$@"
fi

if [[ "${AIRFLOW_COMMAND}" == "airflow" ]]; then
    shift
    AIRFLOW_COMMAND="${1:-}"
elif [[ -n "${AIRFLOW_COMMAND}" && "${AIRFLOW_COMMAND}" != -* && "${AIRFLOW_SUBCOMMANDS}" != *" ${AIRFLOW_COMMAND} "* ]] \
    && command -v -- "${AIRFLOW_COMMAND}" > /dev/null; then
    # Not an Airflow subcommand but a program (the official image would hand it to airflow).
    exec "$@"
fi

exec airflow "$@"
