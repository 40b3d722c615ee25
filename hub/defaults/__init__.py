"""The shipped default configuration: ``hub.yaml`` and the route files.

In a checkout both are links to the top-level ``hub.yaml`` and ``routes/``;
an installed package carries copies, so ``hub run`` and ``hub init`` work
from any directory.
"""
