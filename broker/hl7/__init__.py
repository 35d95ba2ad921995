"""HL7 v2 over MLLP: framing, the listener, intake of orders and ADT, ACKs, the message log."""
