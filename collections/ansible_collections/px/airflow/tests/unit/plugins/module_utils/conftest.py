# Copyright: px.airflow contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures of the module_utils unit tests: a fake wire (fake_api.FakeApi) and a KubeService over it."""

from __future__ import annotations

import pytest
from ansible_collections.px.airflow.plugins.module_utils.service import KubeService
from ansible_collections.px.airflow.tests.unit.plugins.module_utils.fake_api import FakeApi


@pytest.fixture
def api():
    return FakeApi()


@pytest.fixture
def service(api):
    slept = []
    kube = KubeService(api, sleep=slept.append)
    kube.slept = slept
    return kube
