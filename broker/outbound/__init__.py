"""Messages the broker sends on: HL7 status to the RIS, MPPS forwarded to downstream SCPs."""
