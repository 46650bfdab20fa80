"""Beam metrics of the stages, all in one namespace that `pipelines.summary` reads.

DoFns create their metrics in `setup()`, never in `__init__`.
"""

from __future__ import annotations

from apache_beam.metrics.metric import Metrics

NAMESPACE = "affectflow"


def counter(name: str) -> Metrics.DelegatingCounter:
    """The counter `name` of affectflow's namespace."""
    return Metrics.counter(NAMESPACE, name)


def distribution(name: str) -> Metrics.DelegatingDistribution:
    """The distribution `name` of affectflow's namespace."""
    return Metrics.distribution(NAMESPACE, name)
