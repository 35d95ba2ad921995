"""Received studies and instances, destinations, routing rules and routing jobs."""
from django.db import models
from django.db.models import Q

from broker.core.work_queue import States, WorkQueue
from mpps.models import PerformedProcedureStep, PerformedSeries


class Study(models.Model):
    class State(models.TextChoices):
        RECEIVING = "RECEIVING", "Receiving"
        COMPLETE = "COMPLETE", "Complete"

    class CompletionReason(models.TextChoices):
        MPPS = "MPPS", "All MPPS final and all referenced instances received"
        QUIET_TIME = "QUIET", "Quiet time elapsed since the last instance"
        OPERATOR = "OPERATOR", "Marked complete by staff"
        COMMITMENT = "COMMIT", "Storage commitment: every instance the modality listed committed"

    study_instance_uid = models.CharField(max_length=64, unique=True)
    patient_id = models.CharField(max_length=64, blank=True, default="")
    patient_name = models.CharField(max_length=200, blank=True, default="")
    accession_number = models.CharField(max_length=16, blank=True, default="", db_index=True)
    study_description = models.CharField(max_length=64, blank=True, default="")
    modalities = models.CharField(max_length=64, blank=True, default="")  # backslash-joined
    calling_ae = models.CharField(max_length=16, blank=True, default="")
    # Backslash-joined values seen on the study's instances, for rule matching.
    station_names = models.CharField(max_length=200, blank=True, default="")
    body_parts = models.CharField(max_length=200, blank=True, default="")
    procedure_codes = models.CharField(max_length=200, blank=True, default="")
    order = models.ForeignKey("worklist.ImagingOrder", null=True, blank=True, on_delete=models.SET_NULL, related_name="studies")
    state = models.CharField(max_length=12, choices=State.choices, default=State.RECEIVING, db_index=True)
    completion_reason = models.CharField(max_length=8, choices=CompletionReason.choices, blank=True, default="")
    missing_instances = models.PositiveIntegerField(default=0)  # referenced by MPPS but never received
    # Why a complete study is not routed until staff release it (e.g. MPPS discontinued: wrong worklist entry).
    held_reason = models.CharField(max_length=200, blank=True, default="")
    first_received_at = models.DateTimeField(auto_now_add=True)
    last_received_at = models.DateTimeField(db_index=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "studies"

    def __str__(self):
        return self.study_instance_uid

    def performed_steps(self):
        """The MPPS that made this study: by its Study Instance UID, or by a series they list that arrived."""
        series = self.instances.values_list("series_instance_uid", flat=True).distinct()
        listing = PerformedSeries.objects.filter(series_instance_uid__in=series).values("performed_step")
        # Without the stored data set: it is the MPPS's whole attribute list (megabytes for a long series list),
        # and this runs for every instance stored.
        return (PerformedProcedureStep.objects.filter(Q(study_instance_uid=self.study_instance_uid) | Q(pk__in=listing))
                .defer("dataset"))


class StoredInstance(models.Model):
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="instances")
    series_instance_uid = models.CharField(max_length=64, db_index=True)
    sop_instance_uid = models.CharField(max_length=64, unique=True)
    sop_class_uid = models.CharField(max_length=64)
    transfer_syntax_uid = models.CharField(max_length=64)
    modality = models.CharField(max_length=16, blank=True, default="")
    path = models.CharField(max_length=500)  # relative to BROKER_STORAGE_DIR
    size = models.PositiveBigIntegerField()
    calling_ae = models.CharField(max_length=16, blank=True, default="")
    received_at = models.DateTimeField(auto_now_add=True)
    deleted_at = models.DateTimeField(null=True, blank=True)  # file removed by retention housekeeping

    def __str__(self):
        return self.sop_instance_uid


class Destination(models.Model):
    name = models.CharField(max_length=64, unique=True)
    ae_title = models.CharField(max_length=16)
    host = models.CharField(max_length=255)
    port = models.PositiveIntegerField()
    enabled = models.BooleanField(default=True)
    max_associations = models.PositiveIntegerField(default=1)
    use_tls = models.BooleanField(default=False)
    tls_ca_file = models.CharField(max_length=500, blank=True, default="")
    tls_cert_file = models.CharField(max_length=500, blank=True, default="")
    tls_key_file = models.CharField(max_length=500, blank=True, default="")
    description = models.CharField(max_length=200, blank=True, default="")

    def __str__(self):
        return f"{self.name} ({self.ae_title}@{self.host}:{self.port})"


class RoutingRule(models.Model):
    class Action(models.TextChoices):
        SEND = "SEND", "Send the study from the broker (C-STORE)"
        MOVE = "MOVE", "Ask an archive to move it (C-MOVE)"

    name = models.CharField(max_length=64, unique=True)
    enabled = models.BooleanField(default=True)
    priority = models.PositiveIntegerField(default=100)
    # Empty match fields match anything; the description pattern is a regular expression.
    match_calling_ae = models.CharField(max_length=16, blank=True, default="")
    match_modality = models.CharField(max_length=16, blank=True, default="")
    match_station = models.CharField(max_length=16, blank=True, default="")
    match_procedure_code = models.CharField(max_length=64, blank=True, default="")
    match_body_part = models.CharField(max_length=16, blank=True, default="")
    match_study_description = models.CharField(max_length=200, blank=True, default="")
    action = models.CharField(max_length=4, choices=Action.choices, default=Action.SEND)
    destinations = models.ManyToManyField(Destination, related_name="rules")
    # For MOVE: the archive that holds the study (it is asked to C-MOVE to each destination).
    move_source = models.ForeignKey(Destination, null=True, blank=True, on_delete=models.PROTECT, related_name="move_rules")
    # {"InstitutionName": "City Hospital", "IssuerOfPatientID": "CITY"} applied on the way out.
    attribute_changes = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["priority", "id"]

    def __str__(self):
        return self.name


class RoutingJob(models.Model):
    class State(models.TextChoices):
        WAITING = "WAITING", "Waiting"
        RUNNING = "RUNNING", "Running"
        DONE = "DONE", "Done"
        FAILED = "FAILED", "Failed, will retry"
        GAVE_UP = "GAVE_UP", "Waiting for an operator"

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="routing_jobs")
    destination = models.ForeignKey(Destination, on_delete=models.PROTECT, related_name="routing_jobs")
    rule = models.ForeignKey(RoutingRule, null=True, blank=True, on_delete=models.SET_NULL, related_name="routing_jobs")
    action = models.CharField(max_length=4, choices=RoutingRule.Action.choices, default=RoutingRule.Action.SEND)
    state = models.CharField(max_length=8, choices=State.choices, default=State.WAITING, db_index=True)
    sent = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(default=0)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # "host:pid" of the process running it: a RUNNING job whose process is gone is taken over at once.
    claimed_by = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["study", "destination"], name="unique_job_per_study_destination"),
        ]

    def __str__(self):
        return f"{self.study} → {self.destination} ({self.state})"


# Routing jobs as a work queue (broker.core.work_queue): no lanes (one job per study and destination); the
# claim clock is updated_at, which sending progress also moves, so only a job without progress is lost.
ROUTING_JOBS = WorkQueue(
    model=RoutingJob,
    states=States(waiting=RoutingJob.State.WAITING, running=RoutingJob.State.RUNNING, done=RoutingJob.State.DONE,
                  failed=RoutingJob.State.FAILED, gave_up=RoutingJob.State.GAVE_UP),
    backoff_setting="BROKER_ROUTING_BACKOFF_SECONDS",
    backoff_max_setting="BROKER_ROUTING_BACKOFF_MAX_SECONDS",
    lost_after_setting="BROKER_ROUTING_STALE_SECONDS",
    pending_grace_setting="BROKER_ROUTING_STALE_SECONDS",
    max_attempts_setting="BROKER_ROUTING_MAX_ATTEMPTS",
    running_since="updated_at",
    waiting_since="updated_at",
    finished_at="finished_at",
    owner_field="claimed_by",
    name="routing jobs",
)


class DeliveredInstance(models.Model):
    """An instance a destination confirmed (C-STORE success): never sent to it again."""

    job = models.ForeignKey(RoutingJob, on_delete=models.CASCADE, related_name="delivered")
    instance = models.ForeignKey(StoredInstance, on_delete=models.CASCADE, related_name="deliveries")
    delivered_at = models.DateTimeField(auto_now_add=True)
    # The syntax it travelled in: differs from the stored one when the destination refused the original.
    transfer_syntax_uid = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["job", "instance"], name="unique_delivery"),
        ]

    def __str__(self):
        return f"{self.instance_id} to job {self.job_id}"


class RejectedInstance(models.Model):
    """A C-STORE the broker answered with a failure status, for staff to see (the file was not kept)."""

    received_at = models.DateTimeField(auto_now_add=True, db_index=True)
    calling_ae = models.CharField(max_length=16, blank=True, default="")
    sop_class_uid = models.CharField(max_length=64, blank=True, default="")
    sop_instance_uid = models.CharField(max_length=64, blank=True, default="")
    status = models.PositiveIntegerField()
    error_comment = models.CharField(max_length=200, blank=True, default="")

    def __str__(self):
        return f"{self.sop_instance_uid} 0x{self.status:04X}"
