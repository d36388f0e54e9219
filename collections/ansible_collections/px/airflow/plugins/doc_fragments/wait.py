# Copyright: px.airflow contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The options every waiting module shares: how long to wait, and how often to look."""

from __future__ import annotations


class ModuleDocFragment:
    # Each module documents its own O(wait) (what it waits for, and its default) and may set its
    # own O(wait_timeout) default; the meaning of the options is the same everywhere.
    DOCUMENTATION = r"""
options:
  wait_timeout:
    description:
      - Seconds to wait before the module fails, naming what it waited for and why it is not
        ready (conditions, pod states, last log lines, events).
      - Must be at least 1.
    type: int
  wait_sleep:
    description:
      - The longest pause, in seconds, between two looks at what the module waits for. The first
        looks come sooner (from a quarter of a second, growing by half each time) so a quick
        change is seen quickly.
      - Must be at least 1.
    type: int
    default: 2
"""
