"""affectflow.models."""
