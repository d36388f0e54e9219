# Copyright: px.airflow contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""px.airflow.objects_info: runs the module's code in the controller's process when the task runs there."""

from __future__ import annotations

from ansible_collections.px.airflow.plugins.plugin_utils.in_process import InProcessAction


class ActionModule(InProcessAction):
    """See plugin_utils/in_process.py: in-process on a local connection, else the module as usual."""
