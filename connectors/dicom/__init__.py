"""DICOM connector: the listener (SCP) and the C-STORE destination (SCU), on pynetdicom.

pynetdicom runs each association in its own threads (CONVENTIONS 10): the
listener's handlers hand every instance to the hub's event loop with
:func:`asyncio.run_coroutine_threadsafe` and wait for the answer there; the
destination runs its associations in worker threads through
:func:`asyncio.to_thread`. Nothing in here blocks the loop.

- :mod:`connectors.dicom.part10`: a received dataset as a PS3.10 file, and back.
- :mod:`connectors.dicom.scp`: C-ECHO, C-STORE, C-FIND (study root, STUDY level).
- :mod:`connectors.dicom.coerce`: what a destination changes in an instance.
- :mod:`connectors.dicom.scu`: associations kept open and the ``dicom`` destination.
"""
