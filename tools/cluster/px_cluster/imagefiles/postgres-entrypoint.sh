#!/usr/bin/env bash
# docker-entrypoint.sh of px-airflow's postgres image: the official image's interface.
#   POSTGRES_PASSWORD (or POSTGRES_PASSWORD_FILE), POSTGRES_USER (default postgres),
#   POSTGRES_DB (default $POSTGRES_USER), POSTGRES_INITDB_ARGS, POSTGRES_INITDB_WALDIR,
#   POSTGRES_HOST_AUTH_METHOD (default: the server's password_encryption, scram-sha-256),
#   PGDATA (default /var/lib/postgresql/data), /docker-entrypoint-initdb.d/*.sh|*.sql|*.sql.gz.
# The database is initialised only when $PGDATA has no PG_VERSION. Started as root, it fixes the
# ownership of $PGDATA and steps down to the postgres user (uid 999) with setpriv; started as
# any other user (a pod's runAsUser), it runs as that user.
set -Eeo pipefail

file_env() {
    local var="$1" file_var="${1}_FILE" default="${2:-}" value
    if [[ -n "${!var:-}" && -n "${!file_var:-}" ]]; then
        >&2 echo "error: both ${var} and ${file_var} are set (but are exclusive)"
        exit 1
    fi
    value="${default}"
    if [[ -n "${!var:-}" ]]; then
        value="${!var}"
    elif [[ -n "${!file_var:-}" ]]; then
        value="$(< "${!file_var}")"
    fi
    export "${var}=${value}"
    unset "${file_var}"
}

setup_env() {
    file_env POSTGRES_PASSWORD
    file_env POSTGRES_USER postgres
    file_env POSTGRES_DB "${POSTGRES_USER}"
    file_env POSTGRES_INITDB_ARGS
    : "${POSTGRES_HOST_AUTH_METHOD:=}"
    : "${PGDATA:=/var/lib/postgresql/data}"
    export PGDATA
    DATABASE_ALREADY_EXISTS=
    if [[ -s "${PGDATA}/PG_VERSION" ]]; then
        DATABASE_ALREADY_EXISTS=true
    fi
}

create_directories() {
    mkdir -p "${PGDATA}"
    # PostgreSQL wants its data directory private; a volume root may refuse (then initdb says so).
    chmod 00700 "${PGDATA}" || :
    mkdir -p /var/run/postgresql || :
    chmod 03775 /var/run/postgresql || :
    if [[ -n "${POSTGRES_INITDB_WALDIR:-}" ]]; then
        mkdir -p "${POSTGRES_INITDB_WALDIR}"
        if [[ "$(id -u)" == 0 ]]; then
            find "${POSTGRES_INITDB_WALDIR}" \! -user postgres -exec chown postgres: '{}' +
        fi
        chmod 700 "${POSTGRES_INITDB_WALDIR}"
    fi
    if [[ "$(id -u)" == 0 ]]; then
        find "${PGDATA}" \! -user postgres -exec chown postgres: '{}' +
        find /var/run/postgresql \! -user postgres -exec chown postgres: '{}' +
    fi
}

verify_minimum_env() {
    if [[ -z "${POSTGRES_PASSWORD}" && "${POSTGRES_HOST_AUTH_METHOD}" != trust ]]; then
        >&2 echo "Error: Database is uninitialized and superuser password is not specified."
        >&2 echo "       Set POSTGRES_PASSWORD to a non-empty value (or POSTGRES_HOST_AUTH_METHOD=trust, not recommended)."
        exit 1
    fi
    if [[ "${POSTGRES_HOST_AUTH_METHOD}" == trust ]]; then
        >&2 echo "WARNING: POSTGRES_HOST_AUTH_METHOD=trust lets anyone who reaches the port connect without a password."
    fi
}

init_database_dir() {
    # initdb wants the current uid in /etc/passwd: fake it with nss_wrapper when it is not.
    if ! getent passwd "$(id -u)" &> /dev/null; then
        local wrapper
        for wrapper in /usr/lib/*/libnss_wrapper.so /usr/lib/libnss_wrapper.so; do
            if [[ -s "${wrapper}" ]]; then
                NSS_WRAPPER_PASSWD="$(mktemp)"
                NSS_WRAPPER_GROUP="$(mktemp)"
                export LD_PRELOAD="${wrapper}" NSS_WRAPPER_PASSWD NSS_WRAPPER_GROUP
                printf 'postgres:x:%s:%s:PostgreSQL:%s:/bin/false\n' "$(id -u)" "$(id -g)" "${PGDATA}" > "${NSS_WRAPPER_PASSWD}"
                printf 'postgres:x:%s:\n' "$(id -g)" > "${NSS_WRAPPER_GROUP}"
                break
            fi
        done
    fi
    local extra=()
    if [[ -n "${POSTGRES_INITDB_WALDIR:-}" ]]; then
        extra+=(--waldir "${POSTGRES_INITDB_WALDIR}")
    fi
    # --pwfile refuses an empty file, hence the newline.
    eval 'initdb --username="${POSTGRES_USER}" --pwfile=<(printf "%s\n" "${POSTGRES_PASSWORD}") '"${POSTGRES_INITDB_ARGS}"' "${extra[@]}"'
    if [[ "${LD_PRELOAD:-}" == */libnss_wrapper.so ]]; then
        rm -f "${NSS_WRAPPER_PASSWD}" "${NSS_WRAPPER_GROUP}"
        unset LD_PRELOAD NSS_WRAPPER_PASSWD NSS_WRAPPER_GROUP
    fi
}

setup_hba_conf() {
    if [[ "${1:-}" == postgres ]]; then
        shift
    fi
    local auth
    auth="$(postgres -C password_encryption "$@")"
    : "${POSTGRES_HOST_AUTH_METHOD:=${auth}}"
    printf '\nhost all all all %s\n' "${POSTGRES_HOST_AUTH_METHOD}" >> "${PGDATA}/pg_hba.conf"
}

process_sql() {
    local runner=(psql -v ON_ERROR_STOP=1 --username "${POSTGRES_USER}" --no-password --no-psqlrc)
    if [[ -n "${POSTGRES_DB}" ]]; then
        runner+=(--dbname "${POSTGRES_DB}")
    fi
    PGHOST= PGHOSTADDR= "${runner[@]}" "$@"
}

temp_server_start() {
    if [[ "${1:-}" == postgres ]]; then
        shift
    fi
    # Socket only: nothing reaches the server before the set-up is done.
    set -- "$@" -c listen_addresses='' -p "${PGPORT:-5432}"
    NOTIFY_SOCKET= PGUSER="${PGUSER:-${POSTGRES_USER}}" pg_ctl -D "${PGDATA}" -o "$(printf '%q ' "$@")" -w start
}

temp_server_stop() {
    PGUSER="${PGUSER:-postgres}" pg_ctl -D "${PGDATA}" -m fast -w stop
}

setup_db() {
    local exists
    exists="$(POSTGRES_DB= process_sql --dbname postgres --set db="${POSTGRES_DB}" --tuples-only <<< "SELECT 1 FROM pg_database WHERE datname = :'db';")"
    if [[ -z "${exists// /}" ]]; then
        POSTGRES_DB= process_sql --dbname postgres --set db="${POSTGRES_DB}" <<< 'CREATE DATABASE :"db";'
    fi
}

process_init_files() {
    local f
    for f; do
        case "${f}" in
            *.sh)
                if [[ -x "${f}" ]]; then
                    echo "$0: running ${f}"
                    "${f}"
                else
                    echo "$0: sourcing ${f}"
                    # shellcheck disable=SC1090
                    . "${f}"
                fi
                ;;
            *.sql) echo "$0: running ${f}"; process_sql -f "${f}" ;;
            *.sql.gz) echo "$0: running ${f}"; gunzip -c "${f}" | process_sql ;;
            *) echo "$0: ignoring ${f}" ;;
        esac
    done
}

want_help() {
    local arg
    for arg; do
        case "${arg}" in
            -'?'|--help|--describe-config|-V|--version) return 0 ;;
        esac
    done
    return 1
}

main() {
    if [[ "${1:0:1}" == - ]]; then
        set -- postgres "$@"
    fi
    if [[ "$1" == postgres ]] && ! want_help "$@"; then
        setup_env
        create_directories
        if [[ "$(id -u)" == 0 ]]; then
            exec setpriv --reuid=postgres --regid=postgres --init-groups "${BASH_SOURCE[0]}" "$@"
        fi
        if [[ -z "${DATABASE_ALREADY_EXISTS}" ]]; then
            verify_minimum_env
            ls /docker-entrypoint-initdb.d/ > /dev/null
            init_database_dir
            setup_hba_conf "$@"
            export PGPASSWORD="${PGPASSWORD:-${POSTGRES_PASSWORD}}"
            temp_server_start "$@"
            setup_db
            shopt -s nullglob
            process_init_files /docker-entrypoint-initdb.d/*
            shopt -u nullglob
            temp_server_stop
            unset PGPASSWORD
            echo
            echo "PostgreSQL init process complete; ready for start up."
            echo
        else
            echo
            echo "PostgreSQL Database directory appears to contain a database; Skipping initialization"
            echo
        fi
    fi
    exec "$@"
}

main "$@"
