"""The DICOM listener: one AE, handlers per service, remote AE registry and the worklist query log."""
