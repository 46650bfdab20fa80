"""affectflow.schemas."""
