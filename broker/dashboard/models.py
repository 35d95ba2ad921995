"""The dashboard owns no tables; it only declares the permissions of the staff's actions."""
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
