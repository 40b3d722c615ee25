"""MSSanté, the French secure health messaging space: the ``mssante`` component.

The component itself is in :mod:`connectors.mssante.component`; this package file stays
empty so that importing one of its modules (the CLI commands, for every
``hub`` invocation) does not load the whole component and its libraries.
"""
