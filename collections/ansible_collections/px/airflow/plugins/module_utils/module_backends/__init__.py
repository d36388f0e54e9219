# Copyright: px.airflow contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What each module does, apart from its argument spec and documentation (community.crypto's pattern).

A backend takes the module (for its params, check mode, diff mode and no_log values) and a
KubeService, and answers the module's result; ``module.run_backend`` turns its typed errors
into ``fail_json``. Unit tests drive the backends with a fake transport.
"""
