"""The airflow role's output, checked by real Airflow 3.3 and a real PostgreSQL.

- every section/key of the rendered airflow.cfg exists in Airflow's configuration description;
- `airflow db migrate` and `airflow users create` succeed against a real PostgreSQL with exactly
  the environment the role's migration Jobs get (secrets resolved as the role stores them);
- the worker pod template renders through Airflow's PodGenerator with the execution API URL and
  both shared volumes, and without any secret.
"""

from __future__ import annotations

import configparser
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from helpers import ROOT, VENV_BIN, run_playbook

sys.path.insert(0, str(ROOT / "tools"))
from local_airflow import Postgres

sys.path.insert(0, str(ROOT / "collections"))
from ansible_collections.px.airflow.plugins.module_utils.secret_values import generate


def render(tmp: Path, playbook, extra_vars: dict) -> Path:
    out = tmp / "render"
    play = playbook(
        """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: render
      ansible.builtin.include_role:
        name: px.airflow.airflow
        tasks_from: render.yml
"""
    )
    extra = dict(extra_vars, airflow_render_dir=str(out))
    result = run_playbook(play, "-e", json.dumps(extra))
    assert result.rc == 0, result.stdout[-3000:]
    return out


def airflow_description() -> dict:
    from airflow.configuration import conf

    return conf.configuration_description


def unknown_options(cfg_path: Path) -> list[str]:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(cfg_path)
    description = airflow_description()
    unknown = []
    for section in parser.sections():
        options = (description.get(section) or {}).get("options") or {}
        unknown += [f"[{section}] {key}" for key in parser[section] if key not in options]
    return unknown


def test_rendered_config_is_known_to_real_airflow(tmp_path, playbook):
    out = render(tmp_path, playbook, {})
    assert unknown_options(out / "airflow.cfg") == []
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(out / "airflow.cfg")
    assert parser["core"]["executor"] == "KubernetesExecutor"
    assert (
        parser["core"]["execution_api_server_url"] == "http://af-api-server.airflow.svc.cluster.local:8080/execution/"
    )
    assert parser["kubernetes_executor"]["pod_template_file"] == "/opt/airflow/pod_templates/pod_template_file.yaml"


RENDER_PLAY = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: render
      ansible.builtin.include_role:
        name: px.airflow.airflow
        tasks_from: render.yml
"""


def test_a_typo_in_user_config_is_refused_before_anything_is_rendered(tmp_path, playbook):
    config = {"core": {"dags_foldr": "/x"}, "webserverr": {"a": 1}}
    extra = {"airflow_render_dir": str(tmp_path / "r"), "airflow_config": config}
    result = run_playbook(playbook(RENDER_PLAY), "-e", json.dumps(extra))
    text = result.stdout.replace("\\n", "\n")
    assert result.rc != 0
    assert "airflow_config.core.dags_foldr: '/x' is not an option of [core] in Airflow" in text
    assert "did you mean dags_folder?" in text
    assert "airflow_config.webserverr: " in text and "is not a section of Airflow" in text
    assert not (tmp_path / "r" / "airflow.cfg").exists()


def test_secrets_in_user_config_are_refused(tmp_path, playbook):
    extra = {"airflow_render_dir": str(tmp_path / "r"), "airflow_config": {"core": {"fernet_key": "abc"}}}
    result = run_playbook(playbook(RENDER_PLAY), "-e", json.dumps(extra))
    assert result.rc != 0 and "airflow_config.core.fernet_key: '(hidden)' is a secret" in result.stdout
    assert not (tmp_path / "r").exists()


def resolved_env(manifest: dict, secrets: dict, container: int = 0) -> dict[str, str]:
    """The environment a container gets, resolving secretKeyRef as the kubelet does."""
    env = {}
    for entry in manifest["spec"]["template"]["spec"]["containers"][container].get("env", []):
        if "value" in entry:
            env[entry["name"]] = entry["value"]
        else:
            ref = entry["valueFrom"]["secretKeyRef"]
            env[entry["name"]] = secrets[ref["name"]][ref["key"]]
    return env


@pytest.fixture(scope="module")
def postgres():
    server = Postgres.start()
    yield server
    server.stop()


def test_migrations_and_admin_user_against_real_postgres(tmp_path, playbook, postgres):
    values = {
        "db-password": generate("db_password", 32),
        "fernet-key": generate("fernet", 32),
        "api-secret-key": generate("token", 32),
        "jwt-secret": generate("token", 64),
        "admin-password": generate("password", 20),
    }
    postgres.psql(f"CREATE ROLE airflow LOGIN PASSWORD '{values['db-password']}'")
    postgres.psql("CREATE DATABASE airflow OWNER airflow")
    out = render(
        tmp_path,
        playbook,
        {"airflow_database_host": "127.0.0.1", "airflow_database_port": postgres.port, "airflow_render_values": values},
    )
    secrets = json.loads((out / "secrets.json").read_text())
    jobs = {
        doc["metadata"]["labels"]["app.kubernetes.io/component"]: doc
        for doc in yaml.safe_load_all((out / "migrate.yml").read_text())
        if doc
    }
    home = tmp_path / "home"
    (home / "dags" / "versions" / "empty").mkdir(parents=True)
    cfg = (out / "airflow.cfg").read_text().replace("/opt/airflow", str(home))
    (home / "airflow.cfg").write_text(cfg)
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    base_env.update(
        AIRFLOW_HOME=str(home), AIRFLOW_CONFIG=str(home / "airflow.cfg"), PATH=f"{VENV_BIN}:{os.environ['PATH']}"
    )

    for job in ("migrate", "create-user"):
        manifest = jobs[job]
        command = manifest["spec"]["template"]["spec"]["containers"][0]["command"]
        script = command[2].replace("/opt/airflow", str(home))
        env = dict(base_env, **resolved_env(manifest, secrets))
        assert "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN" in env
        proc = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, f"{job}: {proc.stdout[-2000:]}{proc.stderr[-4000:]}"

    assert postgres.psql("SELECT count(*) FROM alembic_version", "airflow") == "1"
    assert postgres.psql("SELECT username FROM ab_user", "airflow") == "admin"
    assert (home / "dags" / "current").resolve() == (home / "dags" / "versions" / "empty").resolve()


def test_worker_pod_template_renders_through_pod_generator(tmp_path, playbook):
    out = render(tmp_path, playbook, {})
    from airflow.providers.cncf.kubernetes.pod_generator import PodGenerator

    template = PodGenerator.deserialize_model_file(str(out / "pod_template_file.yaml"))
    pod = PodGenerator.construct_pod(
        dag_id="portworx-demo",
        task_id="write",
        pod_id="portworx-demo-write-abc",
        try_number=1,
        kube_image="apache/airflow:3.3.2",
        date=None,
        args=["python", "-m", "airflow.sdk.execution_time.execute_workload", "--json-string", "{}"],
        pod_override_object=None,
        base_worker_pod=template,
        with_mutation_hook=False,
        namespace="airflow",
        scheduler_job_id="1",
        run_id="manual__1",
        map_index=-1,
    )
    container = pod.spec.containers[0]
    assert container.name == "base"
    env = {e.name: e for e in container.env or []}
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"].value == (
        "http://af-api-server.airflow.svc.cluster.local:8080/execution/"
    )
    mounts = {m.name: m.mount_path for m in container.volume_mounts}
    assert mounts["dags"] == "/opt/airflow/dags" and mounts["logs"] == "/opt/airflow/logs"
    claims = {v.name: v.persistent_volume_claim.claim_name for v in pod.spec.volumes if v.persistent_volume_claim}
    assert claims == {"dags": "af-dags", "logs": "af-logs"}
    assert all(e.value_from is None for e in container.env or [])
    serialized = json.dumps(pod.to_dict(), default=str)
    assert "secretKeyRef" not in serialized and 'secret_key_ref": {' not in serialized
    assert "SQL_ALCHEMY_CONN" not in serialized and "FERNET" not in serialized
    assert pod.spec.service_account_name == "af-airflow-worker"
    assert pod.spec.security_context.run_as_non_root is True
