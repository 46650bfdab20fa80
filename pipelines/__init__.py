"""affectflow.pipelines."""
