# Copyright: px.airflow contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Typed errors raised by px.airflow's module_utils and turned into ``fail_json`` in one place."""

from __future__ import annotations


class PxAirflowError(Exception):
    """An error whose message tells the user what went wrong and what to do about it."""

    def __init__(self, msg, **details):
        super().__init__(msg)
        self.msg = msg
        self.details = details


class ConnectionError_(PxAirflowError):
    """The Kubernetes API could not be reached or the client could not be configured."""


class InvalidInput(PxAirflowError):
    """A parameter or combination of parameters is invalid; raised before any API call."""


class ApiFailure(PxAirflowError):
    """The Kubernetes API answered a request with an error."""

    def __init__(self, msg, status=None, reason=None, body=None, **details):
        super().__init__(msg, **details)
        self.status = status
        self.reason = reason
        self.body = body
