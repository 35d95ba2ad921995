"""The audit trail: append-only, hash-chained events of what people and systems did (issue 10).

Events are written only through `broker.audit.trail.record`, in the caller's transaction; `events` names
each kind and `dicom_xml` maps an event to its DICOM audit message (PS3.15 A.5).
"""
