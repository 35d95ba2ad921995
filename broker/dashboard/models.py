"""The dashboard's tables: the permissions of the staff's actions, and the count of the broker's internal errors."""
from django.db import models


class StaffAction(models.Model):
    """Permission holder for actions that belong to no single model (no table is created)."""

    class Meta:
        managed = False
        default_permissions = ()
        permissions = [
            ("view_dashboard", "Can see the dashboard pages"),
            ("replay_hl7", "Can replay a rejected HL7 message"),
            ("manage_routing", "Can retry or give up routing jobs and mark studies complete"),
            ("manage_outbound", "Can retry or give up RIS notifications and MPPS forwards"),
            ("link_mpps", "Can link an unscheduled MPPS to scheduled steps"),
        ]

    def __str__(self):
        return "staff action"


class InternalError(models.Model):
    """Tracebacks the broker logged about its own faults: one row per process kind, logger and exception type.

    Written by broker/dashboard/internal_errors.py off the request and association paths; shown on the
    problems page and counted in /metrics (broker_internal_errors_total).
    """

    process = models.CharField(max_length=16)
    logger = models.CharField(max_length=100)
    exception_type = models.CharField(max_length=200)
    count = models.PositiveBigIntegerField(default=0)
    first_at = models.DateTimeField()
    last_at = models.DateTimeField()
    last_message = models.TextField(blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["process", "logger", "exception_type"],
                                               name="internal_error_one_row_per_kind")]

    def __str__(self):
        return f"{self.process} {self.logger} {self.exception_type} ×{self.count}"
