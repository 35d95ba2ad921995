"""The lowest layer: infrastructure every app may use and that imports none of them.

The layers, lowest first (checked by import-linter, see pyproject.toml): broker.core → worklist → mpps →
broker.routing | broker.outbound → broker.hl7 | broker.dicom → broker.dashboard → the broker project
itself (settings, urls, the Celery app, runbroker). See ARCHITECTURE.md.
"""
