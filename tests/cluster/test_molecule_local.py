"""molecule test for every scenario on the local real cluster (MOLECULE_CLUSTER=local).

The scenarios share everything with their kubesim and kind variants but create and destroy: create
brings px-cluster up (a no-op when it runs), each scenario works in a namespace of its own
(`mol-<scenario>`), and destroy removes that namespace, leaving the cluster running.
"""

from __future__ import annotations

import pytest
from test_molecule import SCENARIOS, run_scenario

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_molecule_scenario_on_the_local_cluster(scenario, kube, cluster_dir):
    run_scenario(scenario, "local", {"PX_CLUSTER_DIR": str(cluster_dir)})
