"""A helper module beside the DAGs, synced as it is."""

VALUE = 1
