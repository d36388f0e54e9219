# Copyright: px.airflow contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runs a px.airflow module in the controller's own process when its task runs on the controller.

A module run costs Ansible about 0.4 s before the module does anything (a payload built, written,
a new Python started, our code imported again). Our modules only talk to the Kubernetes API (and
dag_sync reads the DAGs directory), so when the task's connection is the controller itself
(``ansible.builtin.local``, as for ``hosts: localhost``), the action plugin validates the
arguments exactly as AnsibleModule does and runs the module's code in the task's worker process.

The module runs as usual (on the target, through ``_execute_module``) whenever running here could
differ from it:

- the connection is not local (``delegate_to`` a bastion, a remote host): the cluster's
  credentials and network are the target's;
- ``become`` (the module would run as another user, with that user's kubeconfig);
- ``async``, or an ``environment`` on the task (the module would see variables this process
  does not have);
- ``ansible_python_interpreter`` names another Python than the controller's;
- the controller's Python lacks what the modules import (urllib3, PyYAML, kubernetes);
- the variable ``px_in_process`` is false.

What the module returns is the same either way: ``changed``, the diff, warnings, no_log values
masked everywhere in the result, ``invocation.module_args``.
"""

from __future__ import annotations

import importlib
import json
import sys

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.common.parameters import remove_values
from ansible.module_utils.errors import UnsupportedError
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase
from ansible.plugins.connection.local import Connection as LocalConnection
from ansible.utils.display import Display
from ansible.utils.vars import merge_hash

display = Display()

COLLECTION = "px.airflow"


class ModuleExit(Exception):
    """Raised by exit_json and fail_json: the module's result."""

    def __init__(self, result):
        super().__init__(result.get("msg", ""))
        self.result = result


class InProcessModule:
    """What a px.airflow module uses of AnsibleModule, in the controller's process.

    The arguments are validated by the same validator AnsibleModule uses (types, choices,
    defaults, aliases, required, mutually exclusive, environment fallbacks), and a refusal reads
    as AnsibleModule's does.
    """

    def __init__(self, name, args, check_mode=False, diff=False, argument_spec=None, **constraints):
        self.check_mode = check_mode
        self._diff = diff
        self._warnings = []
        supports_check_mode = constraints.pop("supports_check_mode", False)
        validated = ArgumentSpecValidator(argument_spec or {}, **constraints).validate(args)
        self.params = validated.validated_parameters
        self.no_log_values = set(validated._no_log_values)
        for both in validated._warnings:
            self.warn("Both option {option} and its alias {alias} are set.".format(**both))
        for deprecation in validated._deprecations:
            self.warn(deprecation.get("msg", str(deprecation)))
        if validated.error_messages:
            msg = validated.errors.msg
            if isinstance(validated.errors[0], UnsupportedError):
                msg = "Unsupported parameters for (%s) module: %s" % (name, msg)
            self.fail_json(msg=msg)
        if check_mode and not supports_check_mode:
            self.exit_json(skipped=True, msg="remote module (%s) does not support check mode" % name)

    def warn(self, warning):
        self._warnings.append(str(warning))

    def _result(self, kwargs):
        result = dict(kwargs)
        result.setdefault("invocation", {"module_args": self.params})
        if self._warnings:
            result["warnings"] = list(self._warnings)
        return remove_values(result, self.no_log_values)

    def exit_json(self, **kwargs):
        kwargs.setdefault("changed", False)
        raise ModuleExit(self._result(kwargs))

    def fail_json(self, msg, **kwargs):
        kwargs.update(failed=True, msg=str(msg))
        if not isinstance(kwargs.get("exception", ""), str):
            kwargs["exception"] = str(kwargs["exception"])
        raise ModuleExit(self._result(kwargs))


def plain(value):
    """The task's arguments as plain JSON types (Ansible may hand over tagged str and dict subclasses)."""
    return json.loads(json.dumps(value))


def run_module_here(name, args, check_mode=False, diff=False):
    """Run px.airflow.NAME's code in this process and return its result (never raises ModuleExit)."""
    code = importlib.import_module("ansible_collections.px.airflow.plugins.modules.%s" % name)
    # Certificates and keys from a kubeconfig go to private temporary files; a module process
    # removes them at exit, a worker process (which ends without running atexit) here.
    from ansible_collections.px.airflow.plugins.module_utils.transport import remove_data_files

    try:
        module = InProcessModule("%s.%s" % (COLLECTION, name), plain(args), check_mode, diff, **code.module_kwargs())
        code.execute(module)
        raise ModuleExit(module._result({"changed": False}))  # a module body that returned without exiting
    except ModuleExit as done:
        return done.result
    finally:
        remove_data_files()


class InProcessAction(ActionBase):
    """The action plugin of a px.airflow module: the module's code, here when that is the same."""

    _supports_check_mode = True
    _supports_async = True

    def module_name(self):
        return self.__class__.__module__.rsplit(".", 1)[-1]

    def why_not_here(self, task_vars):
        """Why the module must run as a module on its target, or None when it can run here."""
        if not isinstance(self._connection, LocalConnection):
            return "the connection is not local"
        if self._play_context.become:
            return "become is set"
        if self._task.async_val:
            return "async is set"
        if any(self._task.environment or ()):
            return "the task sets an environment"
        wanted = self._templar.template(task_vars.get("px_in_process", True))
        if not boolean(wanted, strict=False):
            return "px_in_process is false"
        interpreter = task_vars.get("ansible_python_interpreter")
        if interpreter is not None:
            interpreter = self._templar.template(interpreter)
            if interpreter not in (sys.executable, "{{ ansible_playbook_python }}"):
                return "ansible_python_interpreter is %s, not the controller's Python" % interpreter
        from ansible_collections.px.airflow.plugins.module_utils.connection import MISSING as missing

        if missing:
            return "the controller's Python lacks %s" % ", ".join(missing)
        return None

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        task_vars = task_vars or {}
        name = self.module_name()
        reason = self.why_not_here(task_vars)
        if reason is None:
            display.vvv("%s.%s: runs in the controller's process (local connection)" % (COLLECTION, name))
            return merge_hash(result, run_module_here(name, self._task.args, self._task.check_mode, self._task.diff))
        display.vvv("%s.%s: runs as a module on the target (%s)" % (COLLECTION, name, reason))
        wrap_async = self._task.async_val and not self._connection.has_native_async
        result = merge_hash(
            result,
            self._execute_module(module_name="%s.%s" % (COLLECTION, name), task_vars=task_vars, wrap_async=wrap_async),
        )
        if not wrap_async:
            self._remove_tmp_path(self._connection._shell.tmpdir)
        return result
