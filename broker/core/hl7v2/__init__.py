"""HL7 v2 transport and encoding shared by the listener and the outbound senders: MLLP framing, table 0211."""
