"""Storage Commitment Push Model (PS3.4 Annex J): the requests, their outcome, and the report's durable delivery."""
