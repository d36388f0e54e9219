"""kubesim: a strict simulated Kubernetes API server (a test double, not a cluster)."""

__version__ = "0.1.0"
