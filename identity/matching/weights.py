"""Fellegi-Sunter weights, their estimation by EM, and term-frequency adjustment.

For each field and agreement level, ``m`` is the probability of that level
among true matches and ``u`` among non-matches; the level's weight is
``log2(m / u)`` and a pair's score is the sum over the fields present (a
missing field weighs 0). ``m`` and ``u`` are estimated without labels by
expectation-maximisation on a sample of candidate pairs (the pairs blocking
produces), assuming fields independent given the match status.

Term frequency: agreeing on ``MARTIN`` says less than agreeing on a rare
name. For exact agreement on a name, ``u`` is replaced by the value's own
frequency in the stored population, so the weight becomes ``log2(m / f)``;
the change is bounded so one very rare name cannot outweigh the other fields.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from identity.matching.compare import FIELDS, LEVEL_COUNTS, Level

EPSILON = 1e-5
M_FLOOR = 0.002
"""Least m of any level: every kind of error happens to true matches now and then,
and EM on a sample may see none of a rare one (its weight would be -inf)."""
TF_BOUND = 4.0
"""Largest change, in bits, a term frequency may make to an exact-agreement weight."""

Matrix = npt.NDArray[np.int8]


@dataclass(frozen=True, slots=True)
class FieldWeights:
    """m and u per agreement level of one field."""

    m: tuple[float, ...]
    u: tuple[float, ...]

    def weight(self, level: int) -> float:
        """log2(m/u) of a level."""
        return math.log2(self.m[level] / self.u[level])


@dataclass(frozen=True, slots=True)
class Model:
    """Fellegi-Sunter model: per-field weights and the prior match proportion."""

    fields: Mapping[str, FieldWeights]
    match_proportion: float
    iterations: int = 0

    def weight_table(self) -> dict[str, tuple[float, ...]]:
        """Weight of every level of every field, never above the next level's.

        A level is by construction weaker evidence than the one above it; with
        few observations of a rare level (a one-digit difference of an
        identifier), m/u can come out above the exact level's, which would
        reward the error. The cap restores the order.
        """
        table = {}
        for name, fw in self.fields.items():
            weights = [fw.weight(level) for level in range(len(fw.m))]
            for level in range(len(weights) - 2, -1, -1):
                weights[level] = min(weights[level], weights[level + 1])
            table[name] = tuple(weights)
        return table


def vectors_to_matrix(vectors: Sequence[Sequence[Level]]) -> Matrix:
    """Comparison vectors as an int8 matrix, -1 for a missing field."""
    rows = [[-1 if level is None else level for level in vector] for vector in vectors]
    return np.array(rows, dtype=np.int8).reshape(len(rows), len(FIELDS))


def _initial(counts: Sequence[int]) -> tuple[list[npt.NDArray[np.float64]],
                                             list[npt.NDArray[np.float64]]]:
    # Matches start skewed to the top level, non-matches to the bottom one:
    # that fixes which EM class is "match".
    m = [np.linspace(0.1, 1.0, n) ** 3 for n in counts]
    u = [np.linspace(1.0, 0.1, n) ** 3 for n in counts]
    return [x / x.sum() for x in m], [x / x.sum() for x in u]


def _log_likelihoods(matrix: Matrix, probs: Sequence[npt.NDArray[np.float64]]
                     ) -> npt.NDArray[np.float64]:
    total = np.zeros(matrix.shape[0])
    for j, p in enumerate(probs):
        column = matrix[:, j]
        present = column >= 0
        total[present] += np.log(p[column[present]])
    return total


def _update(matrix: Matrix, weights: npt.NDArray[np.float64], counts: Sequence[int]
            ) -> list[npt.NDArray[np.float64]]:
    probs = []
    for j, n in enumerate(counts):
        column = matrix[:, j]
        present = column >= 0
        counted = np.bincount(column[present], weights=weights[present], minlength=n)[:n]
        sums = counted.astype(np.float64) + EPSILON
        probs.append(sums / sums.sum())
    return probs


def level_frequencies(matrix: Matrix) -> list[npt.NDArray[np.float64]]:
    """Share of each level per field (missing fields left out), smoothed."""
    return _update(matrix, np.ones(matrix.shape[0]), LEVEL_COUNTS)


def estimate_em(matrix: Matrix, *, random_pairs: Matrix | None = None,
                max_iterations: int = 200, tolerance: float = 1e-6,
                prior: float = 0.1) -> Model:
    """Estimate m, u and the match proportion from unlabelled comparison vectors.

    With ``random_pairs`` (comparison vectors of random pairs, nearly all
    non-matches), EM starts from their u, and the final u is theirs: among
    blocked pairs, non-matches agree on the blocking fields by construction,
    so the u EM finds there is right for separating candidates but far too
    high for the population. m comes from EM either way.
    """
    m, u = _initial(LEVEL_COUNTS)
    if random_pairs is not None:
        u = level_frequencies(random_pairs)
    p = prior
    iterations = 0
    for iterations in range(1, max_iterations + 1):  # noqa: B007 (reported in the model)
        m, u, new_p = _em_step(matrix, m, u, p)
        change = abs(new_p - p)
        p = new_p
        if change < tolerance:
            break
    if random_pairs is not None:
        u = level_frequencies(random_pairs)
    m = [np.maximum(x, M_FLOOR) / np.maximum(x, M_FLOOR).sum() for x in m]
    return _model(m, u, p, iterations)


def _em_step(matrix: Matrix, m: list[npt.NDArray[np.float64]],
             u: list[npt.NDArray[np.float64]], p: float
             ) -> tuple[list[npt.NDArray[np.float64]], list[npt.NDArray[np.float64]], float]:
    log_m = _log_likelihoods(matrix, m) + math.log(p)
    log_u = _log_likelihoods(matrix, u) + math.log(1 - p)
    posterior = 1.0 / (1.0 + np.exp(np.clip(log_u - log_m, -500, 500)))
    new_p = float(np.clip(posterior.mean(), EPSILON, 1 - EPSILON))
    return (_update(matrix, posterior, LEVEL_COUNTS),
            _update(matrix, 1.0 - posterior, LEVEL_COUNTS), new_p)


def _model(m: Sequence[npt.NDArray[np.float64]], u: Sequence[npt.NDArray[np.float64]],
           p: float, iterations: int) -> Model:
    fields = {name: FieldWeights(tuple(float(x) for x in m[j]), tuple(float(x) for x in u[j]))
              for j, name in enumerate(FIELDS)}
    return Model(fields, p, iterations)


def configured_model(fields: Mapping[str, tuple[Sequence[float], Sequence[float]]],
                     match_proportion: float = 0.01) -> Model:
    """A model from configured m and u per level (fields left out weigh nothing)."""
    weights = {}
    for name, count in zip(FIELDS, LEVEL_COUNTS, strict=True):
        m, u = fields.get(name, ([1.0] * count, [1.0] * count))
        if len(m) != count or len(u) != count:
            raise ValueError(f"{name}: expected {count} levels of m and u")
        weights[name] = FieldWeights(tuple(m), tuple(u))
    return Model(weights, match_proportion)


def tf_adjustment(model: Model, field: str, level: int, frequency: float | None) -> float:
    """Bits to add to an exact agreement on a value of the given frequency."""
    if frequency is None or frequency <= 0:
        return 0.0
    u = model.fields[field].u[level]
    return max(-TF_BOUND, min(TF_BOUND, math.log2(u / frequency)))
