# Copyright: px.airflow contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The in-process runner against the real thing: each case runs the module file as Ansible runs a
module (a new Python, AnsibleModule reading its arguments) and in-process, and the results must be
the same. preflight with read_cluster=false needs no cluster, so both runs are complete."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from ansible_collections.px.airflow.plugins.module_utils import transport
from ansible_collections.px.airflow.plugins.plugin_utils.in_process import InProcessModule, ModuleExit, run_module_here

PLUGINS = Path(__file__).resolve().parents[4] / "plugins"
# The directory that holds ansible_collections/, for the module's own Python.
COLLECTIONS_ROOT = next(p.parent for p in Path(__file__).resolve().parents if p.name == "ansible_collections")


def as_a_module(name, args, check_mode=False, diff=False, tmp_path=None):
    """Run plugins/modules/NAME.py in a new Python, as Ansible's module runner does (arguments in a file)."""
    path = tmp_path / "args.json"
    internal = {"_ansible_check_mode": check_mode, "_ansible_diff": diff, "_ansible_module_name": f"px.airflow.{name}"}
    path.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": dict(args, **internal)}))
    # This Python's own path (ansible-test injects ansible-core's there), with the collection first.
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(COLLECTIONS_ROOT), *filter(None, sys.path)]))
    done = subprocess.run(
        [sys.executable, str(PLUGINS / "modules" / f"{name}.py"), str(path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.stdout.strip(), done.stderr[-2000:]
    return json.loads(done.stdout)


def warning_text(warning):
    """A warning as text: ansible-core 2.19's modules send a WarningSummary, earlier ones a string."""
    if isinstance(warning, dict):
        warning = warning.get("event", warning).get("msg", warning)
    return str(warning)


def comparable(result):
    result = dict(result)
    result.pop("exception", None)
    result["warnings"] = [warning_text(w) for w in result.get("warnings", [])]
    # A set's order in a message changes from one Python process to the next.
    head, sep, listed = result.get("msg", "").partition("Valid booleans include: ")
    if sep:
        result["msg"] = head + sep + ", ".join(sorted(listed.split(", ")))
    return result


def check(setting, rule, value, **params):
    return {"setting": setting, "rule": rule, "value": value, "params": params or None}


CASES = {
    "honoured": {
        "checks": [check("px_namespace", "namespace", "airflow"), check("port", "port", 8080)],
        "read_cluster": False,
    },
    "refused, a secret hidden": {
        "checks": [
            check("px_namespace", "namespace", "Bad_NS"),
            check("airflow_config", "airflow_config", {"core": {"fernet_key": "s3cr3t-f3rnet"}}),
        ],
        "read_cluster": False,
    },
    "a no_log connection option": {
        "checks": [check("port", "port", 99999)],
        "read_cluster": False,
        "password": "kube-pass-81",
    },
    "an unknown option": {"checks": [], "read_cluster": False, "namespce": "x"},
    "a required option missing": {"read_cluster": False},
    "a value outside the choices": {"checks": [check("x", "no_such_rule", 1)], "read_cluster": False},
    "a value of the wrong type": {"checks": [], "read_cluster": "sometimes"},
    "an option and its alias": {"checks": [], "read_cluster": False, "client_cert": "/a", "cert_file": "/b"},
}


@pytest.mark.parametrize("case", list(CASES))
def test_in_process_returns_what_the_module_returns(case, tmp_path):
    args = CASES[case]
    module = as_a_module("preflight", args, tmp_path=tmp_path)
    here = run_module_here("preflight", json.loads(json.dumps(args)))
    assert comparable(here) == comparable(module)
    # and each case shows what it is about
    if case != "honoured":
        assert here.get("failed") or here["warnings"], here


def test_no_log_values_never_show_in_process():
    args = CASES["a no_log connection option"]
    text = json.dumps(run_module_here("preflight", args))
    assert "kube-pass-81" not in text
    assert "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER" in text
    secret = json.dumps(run_module_here("preflight", CASES["refused, a secret hidden"]))
    assert "s3cr3t-f3rnet" not in secret and "(hidden)" in secret


def test_check_mode_and_diff_reach_the_module():
    seen = {}

    class Code:
        @staticmethod
        def module_kwargs():
            return {"argument_spec": {"name": {"type": "str", "required": True}}, "supports_check_mode": True}

        @staticmethod
        def execute(module):
            seen.update(check_mode=module.check_mode, diff=module._diff, name=module.params["name"])
            module.exit_json(changed=True)

    module = InProcessModule("px.airflow.test", {"name": "n"}, True, True, **Code.module_kwargs())
    with pytest.raises(ModuleExit) as done:
        Code.execute(module)
    assert seen == {"check_mode": True, "diff": True, "name": "n"}
    assert done.value.result["changed"] is True
    assert done.value.result["invocation"] == {"module_args": {"name": "n"}}


def test_a_module_without_check_mode_is_skipped_in_check_mode():
    with pytest.raises(ModuleExit) as done:
        InProcessModule("px.airflow.test", {}, True, False, argument_spec={})
    assert done.value.result["skipped"] is True


def test_certificate_files_are_removed_after_an_in_process_run(tmp_path, monkeypatch):
    monkeypatch.setattr(transport.tempfile, "tempdir", str(tmp_path))
    path = transport._data_file("c2VjcmV0LWtleQ==", ".key")
    assert Path(path).read_bytes() == b"secret-key"
    assert oct(Path(path).stat().st_mode & 0o777) == "0o600"
    run_module_here("preflight", CASES["honoured"])
    assert not Path(path).exists()
    assert list(tmp_path.iterdir()) == []
