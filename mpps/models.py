"""What a modality reports it actually did: performed procedure steps and their series."""
from django.db import models


class PerformedProcedureStep(models.Model):
    class Status(models.TextChoices):
        IN_PROGRESS = "IN PROGRESS", "In progress"
        COMPLETED = "COMPLETED", "Completed"
        DISCONTINUED = "DISCONTINUED", "Discontinued"

    sop_instance_uid = models.CharField(max_length=64, unique=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.IN_PROGRESS, db_index=True)
    calling_ae = models.CharField(max_length=16, blank=True, default="")
    performed_station_ae_title = models.CharField(max_length=16, blank=True, default="")
    performed_station_name = models.CharField(max_length=16, blank=True, default="")
    performed_location = models.CharField(max_length=16, blank=True, default="")
    pps_id = models.CharField(max_length=16, blank=True, default="")
    modality = models.CharField(max_length=16, blank=True, default="")
    description = models.CharField(max_length=64, blank=True, default="")
    patient = models.ForeignKey("worklist.Patient", null=True, blank=True, on_delete=models.SET_NULL, related_name="performed_steps")
    reported_patient_id = models.CharField(max_length=64, blank=True, default="")  # as the modality sent it
    reported_patient_name = models.CharField(max_length=200, blank=True, default="")
    study_instance_uid = models.CharField(max_length=64, blank=True, default="", db_index=True)
    accession_number = models.CharField(max_length=16, blank=True, default="")
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    discontinuation_reason_code = models.CharField(max_length=64, blank=True, default="")
    discontinuation_reason_meaning = models.CharField(max_length=64, blank=True, default="")
    comments = models.TextField(blank=True, default="")  # Comments on the Performed Procedure Step
    # Why the step is not (fully) linked: an SSA item that matched no scheduled step; empty when all matched.
    linking_note = models.CharField(max_length=255, blank=True, default="")
    # The steps this MPPS performed; empty means unscheduled (staff link it later).
    scheduled_steps = models.ManyToManyField("worklist.ScheduledProcedureStep", blank=True, related_name="performed_steps")
    # The N-CREATE dataset as received, then each N-SET merged in (pydicom JSON).
    dataset = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return f"MPPS {self.sop_instance_uid} {self.status}"

    @property
    def is_final(self) -> bool:
        return self.status != self.Status.IN_PROGRESS

    @property
    def is_unscheduled(self) -> bool:
        return not self.scheduled_steps.exists()


class PerformedSeries(models.Model):
    performed_step = models.ForeignKey(PerformedProcedureStep, on_delete=models.CASCADE, related_name="series")
    # Indexed: every stored instance looks up the MPPS that list its series (broker.routing Study.performed_steps).
    series_instance_uid = models.CharField(max_length=64, db_index=True)
    description = models.CharField(max_length=64, blank=True, default="")
    retrieve_ae_title = models.CharField(max_length=16, blank=True, default="")
    protocol_name = models.CharField(max_length=64, blank=True, default="")
    performing_physician_name = models.CharField(max_length=200, blank=True, default="")
    operators_name = models.CharField(max_length=200, blank=True, default="")
    # [{"sop_class_uid": "...", "sop_instance_uid": "..."}]
    referenced_images = models.JSONField(default=list)
    image_count = models.PositiveIntegerField(default=0)
    # Referenced Non-Image Composite SOP Instance Sequence (SR, presentation states, …), same shape.
    referenced_non_image_instances = models.JSONField(default=list)
    non_image_count = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name_plural = "performed series"
        constraints = [
            models.UniqueConstraint(fields=["performed_step", "series_instance_uid"], name="unique_series_per_pps"),
        ]

    def __str__(self):
        return self.series_instance_uid


class MppsRequest(models.Model):
    """The journal of every N-CREATE / N-SET received, accepted or refused, with the status answered."""

    class Operation(models.TextChoices):
        N_CREATE = "N-CREATE", "N-CREATE"
        N_SET = "N-SET", "N-SET"

    received_at = models.DateTimeField(auto_now_add=True, db_index=True)
    operation = models.CharField(max_length=8, choices=Operation.choices)
    sop_instance_uid = models.CharField(max_length=64, blank=True, default="", db_index=True)
    calling_ae = models.CharField(max_length=16, blank=True, default="")
    peer = models.CharField(max_length=100, blank=True, default="")
    dataset = models.JSONField(default=dict)  # the attribute / modification list as received, pydicom JSON
    status = models.PositiveIntegerField(default=0)  # the DIMSE status answered
    error_comment = models.CharField(max_length=64, blank=True, default="")
    error_detail = models.TextField(blank=True, default="")
    performed_step = models.ForeignKey(PerformedProcedureStep, null=True, blank=True, on_delete=models.SET_NULL,
                                       related_name="requests")

    class Meta:
        indexes = [models.Index(fields=["status", "received_at"], name="mpps_request_status_idx")]

    def __str__(self):
        return f"{self.operation} {self.sop_instance_uid} 0x{self.status:04X}"

    @property
    def accepted(self) -> bool:
        return self.status == 0
