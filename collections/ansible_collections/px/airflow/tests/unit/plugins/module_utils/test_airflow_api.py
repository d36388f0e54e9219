# Copyright: px.airflow contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Errors of the Airflow API client: the Kubernetes service proxy's own failures are told apart."""

from __future__ import annotations

import pytest
from ansible_collections.px.airflow.plugins.module_utils.airflow_api import AirflowApiError, AirflowClient

WHERE = "service ns/af-api-server:8080 through the Kubernetes API at https://k8s"


class FakeTransport:
    """The boundary: answers one (status, body) for every request."""

    where = WHERE

    def __init__(self, status, body):
        self.answer = (status, body)

    def request(self, method, path, body=None, token=None, accept="application/json"):
        return self.answer


MISSING = {"kind": "Status", "status": "Failure", "reason": "NotFound", "message": 'services "af-api-server" not found'}
NO_PODS = {"kind": "Status", "status": "Failure", "reason": "ServiceUnavailable", "message": "no endpoints available"}


@pytest.mark.parametrize(
    ("status", "body", "expected", "absent"),
    [
        (404, MISSING, ["could not reach Airflow's api-server", 'services "af-api-server" not found', WHERE], "FAB"),
        (503, NO_PODS, ["could not reach Airflow's api-server", "no endpoints available", "pods are ready"], "FAB"),
        # Airflow itself answered: its own detail, and the auth-manager hint.
        (
            404,
            {"detail": "Not Found"},
            ["did not issue a token", "404", "Not Found", "FAB or simple"],
            "could not reach",
        ),
        (401, {"detail": "Invalid credentials"}, ["rejected the username 'admin'"], "Kubernetes API could not"),
    ],
)
def test_login_failures_say_who_answered(status, body, expected, absent):
    with pytest.raises(AirflowApiError) as failure:
        AirflowClient(FakeTransport(status, body)).login("admin", "secret-pw")
    message = str(failure.value)
    assert all(part in message for part in expected), message
    assert absent not in message and "secret-pw" not in message


def test_a_call_through_a_proxy_that_lost_the_service_says_so():
    client = AirflowClient(FakeTransport(503, NO_PODS))
    with pytest.raises(AirflowApiError) as failure:
        client.call("GET", "/api/v2/dags/x")
    assert "could not reach Airflow's api-server" in str(failure.value)
    assert failure.value.status == 503
    assert "no endpoints available" in str(failure.value)


def test_a_call_airflow_refuses_names_the_request():
    client = AirflowClient(FakeTransport(409, {"detail": "DAG run exists"}))
    with pytest.raises(AirflowApiError) as failure:
        client.call("POST", "/api/v2/dags/x/dagRuns")
    assert str(failure.value) == f"POST /api/v2/dags/x/dagRuns at {WHERE} answered 409: DAG run exists"
    assert failure.value.status == 409
