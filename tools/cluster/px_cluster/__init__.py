"""px-cluster: a real single-node Kubernetes built here from upstream sources."""
