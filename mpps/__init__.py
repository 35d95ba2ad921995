"""Performed procedure steps (MPPS): the model, the N-CREATE/N-SET state machine, the link to scheduled steps."""
