"""The imaging router: the ``imaging`` component.

The component itself is in :mod:`hub.imaging.component`; this package file stays
empty so that importing one of its modules (the CLI commands, for every
``hub`` invocation) does not load the whole component and its libraries.
"""
