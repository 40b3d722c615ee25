"""Matching: blocking keys, comparison vectors, Fellegi-Sunter weights, vetoes,
the deterministic INS tier and the decision.

:func:`identity.matching.decide.decide` is the entry point; the other modules
are its steps, each usable alone (the storage layer uses
:mod:`identity.matching.blocking` to index records).
"""
