"""Patients, imaging orders, requested procedures and scheduled procedure steps; the MWL query."""
