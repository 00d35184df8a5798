"""Alerts on the vectors a store holds: models mixed, the dimension changed."""

from __future__ import annotations

from collections.abc import Iterator

from memwatch.capabilities import Feature
from memwatch.generators.alerts.context import StoreCtx, store_alert
from memwatch.generators.alerts.rule import AlertRule, Settings
from memwatch.generators.alerts.scenarios import level


@store_alert("EmbeddingModelMixed", Feature.MODELS)
def model_mixed(c: StoreCtx, st: Settings) -> Iterator[AlertRule]:
    r = c.rule("EmbeddingModelMixed",
               f"count by (store) (max by (store, model) (memwatch_embeddings{c.sel}) > 0) "
               ">= 2", st,
               f"Store {c.name} holds vectors of {{value}} embedding models: a provider switch "
               "left them mixed, and similarity search across them is meaningless.", "count")
    a, b = "text-embedding-3-small", "nomic-embed-text"
    level(r, c.by, [c.series("memwatch_embeddings", 5, model=a),
                    c.series("memwatch_embeddings", 5, model=b)], 2.0,
          [c.series("memwatch_embeddings", 5, model=a),
           c.series("memwatch_embeddings", 0, model=b)])
    yield r


@store_alert("VectorDimensionMismatch", Feature.DIMENSION)
def dimension_mismatch(c: StoreCtx, st: Settings) -> Iterator[AlertRule]:
    expected = getattr(c.store, "expected_dimension", None)
    if not expected:
        return
    other = 768.0 if expected != 768 else 1536.0
    r = c.rule("VectorDimensionMismatch",
               f"max by (store) (memwatch_vector_dimension{c.sel}) != max by (store) "
               f"(memwatch_vector_dimension_expected{c.sel})", st,
               f"Vectors in {c.name} have dimension {{value}}, the spec expects {expected}: "
               "writes from the other model fail or are dropped.", "count")
    exp = c.series("memwatch_vector_dimension_expected", expected)
    level(r, c.by, [c.series("memwatch_vector_dimension", other), exp], other,
          [c.series("memwatch_vector_dimension", expected), exp])
    yield r
