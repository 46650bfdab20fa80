"""affectflow.queries."""
