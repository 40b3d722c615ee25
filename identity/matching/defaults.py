"""Default model and thresholds (used when no model was estimated or configured)."""

from __future__ import annotations

from functools import lru_cache

from identity.matching.decide import Scorer, Thresholds
from identity.matching.weights import Model, configured_model

# m and u per level (lowest level first). Names, date, sex and birthplace:
# EM on 20,000 synthetic French persons (identity.bench_synthetic), rounded,
# u floored at 1e-4. Postcode, city, address and identifier: set by hand for
# French registers (people move: a postcode disagrees for 15 % of true pairs),
# with u of the order EM found on FEBRL 4.
DEFAULT_MU: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "birth_name": ((0.002, 0.011, 0.015, 0.075, 0.897), (0.998, 0.0001, 0.001, 0.0001, 0.0004)),
    "given_name": ((0.035, 0.012, 0.016, 0.049, 0.888), (0.983, 0.0055, 0.0038, 0.0013, 0.0067)),
    "birth_date": ((0.004, 0.002, 0.034, 0.005, 0.955), (0.988, 0.011, 0.0009, 0.0001, 0.0001)),
    "sex": ((0.01, 0.99), (0.5, 0.5)),
    "birthplace": ((0.005, 0.995), (0.995, 0.005)),
    "postcode": ((0.15, 0.02, 0.83), (0.998, 0.0017, 0.0003)),
    "city": ((0.15, 0.05, 0.80), (0.95, 0.04, 0.01)),
    "address": ((0.2, 0.05, 0.15, 0.6), (0.97, 0.029, 0.0009, 0.0001)),
    "national_id": ((0.01, 0.04, 0.95), (0.9999, 0.00009, 0.00001)),
}


def default_model() -> Model:
    """The configured default model."""
    return configured_model(DEFAULT_MU)


@lru_cache(maxsize=1)
def default_scorer() -> Scorer:
    """A scorer on the default model and thresholds, without term frequencies."""
    return Scorer(default_model(), Thresholds())
