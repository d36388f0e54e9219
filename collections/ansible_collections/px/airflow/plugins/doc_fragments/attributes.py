# Copyright: px.airflow contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Documentation of the module attributes (check mode, diff mode, idempotency)."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options: {}
attributes:
  check_mode:
    description: Can run in check mode and return changed status prediction without modifying target.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check mode), when in diff mode.
  idempotent:
    description:
      - When run twice in a row outside check mode with the same arguments, the second invocation
        indicates no change.
  action:
    description:
      - Indicates this has a corresponding action plugin so some parts of the options can be executed
        on the controller.
    support: full
    details:
      - When the task runs on the controller (a local connection, as in a play on C(localhost)), the
        action plugin runs the whole module in the controller's process, with the same argument
        checks and the same result, and without starting a new Python for it.
      - It runs as a module on its target with another connection (for example C(delegate_to) a
        bastion host), with C(become), C(async) or an C(environment) on the task, when
        C(ansible_python_interpreter) names another Python than the controller's, or when the variable
        C(px_in_process) is false. C(-vvv) says which way each task ran.
"""

    # A module that changes state and supports check mode, diff and idempotency fully.
    FULL = r"""
options: {}
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  idempotent:
    support: full
"""

    INFO_MODULE = r"""
options: {}
attributes:
  check_mode:
    support: full
    details:
      - This action does not modify state.
  diff_mode:
    support: N/A
    details:
      - This action does not modify state.
  idempotent:
    support: full
"""
