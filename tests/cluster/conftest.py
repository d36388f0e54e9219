"""tests/cluster: the kube, cluster_dir and namespace fixtures live in tests/conftest.py (shared by every test)."""
