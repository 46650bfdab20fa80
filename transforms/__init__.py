"""affectflow.transforms."""
