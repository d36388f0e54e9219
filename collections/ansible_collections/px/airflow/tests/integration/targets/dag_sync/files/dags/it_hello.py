"""A DAG file for the dag_sync integration target; it is synced, not run."""

from __future__ import annotations

DAG_ID = "px-it-hello"
