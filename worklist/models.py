"""Worklist entities: Patient → ImagingOrder → RequestedProcedure → ScheduledProcedureStep."""
from django.db import models
from django.db.models import Q
from django.db.models.functions import Upper
from django.utils import timezone

from worklist.names import search_key


class Patient(models.Model):
    SEX_CHOICES = [("M", "Male"), ("F", "Female"), ("O", "Other"), ("", "Unknown")]

    patient_id = models.CharField(max_length=64)
    issuer_of_patient_id = models.CharField(max_length=64, blank=True, default="")
    issuer_universal_id = models.CharField(max_length=64, blank=True, default="")
    issuer_universal_id_type = models.CharField(max_length=16, blank=True, default="")
    # DICOM PN form (family^given^middle^prefix^suffix, groups joined by '='), Unicode.
    name = models.CharField(max_length=200, blank=True, default="")
    name_search = models.CharField(max_length=200, blank=True, default="", db_index=True, editable=False)
    birth_date = models.DateField(null=True, blank=True)
    sex = models.CharField(max_length=1, choices=SEX_CHOICES, blank=True, default="")
    mother_birth_name = models.CharField(max_length=200, blank=True, default="")
    # [{"patient_id": "...", "issuer": "...", "type": "MR"}] from the other PID-3 repetitions.
    other_patient_ids = models.JSONField(default=list, blank=True)
    weight_kg = models.DecimalField(max_digits=6, decimal_places=2, null=True, blank=True)
    size_m = models.DecimalField(max_digits=4, decimal_places=2, null=True, blank=True)
    medical_alerts = models.CharField(max_length=64, blank=True, default="")
    allergies = models.CharField(max_length=64, blank=True, default="")
    pregnancy_status = models.PositiveSmallIntegerField(null=True, blank=True)
    # Set by an A40 merge: this record is obsolete, its orders moved to merged_into.
    merged_into = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="merged_patients")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["patient_id", "issuer_of_patient_id"], name="unique_patient_id_per_issuer"),
        ]
        indexes = [models.Index(fields=["patient_id"], name="patient_id_idx")]

    def __str__(self):
        return f"{self.name} ({self.patient_id})"

    def save(self, *args, **kwargs):
        self.name_search = search_key(self.name)
        super().save(*args, **kwargs)


class ImagingOrder(models.Model):
    class Status(models.TextChoices):
        SCHEDULED = "SCHEDULED", "Scheduled"
        IN_PROGRESS = "IN_PROGRESS", "In progress"
        COMPLETED = "COMPLETED", "Completed"
        CANCELED = "CANCELED", "Canceled"
        DISCONTINUED = "DISCONTINUED", "Discontinued"
        HELD = "HELD", "On hold"

    # An order in these states keeps its steps off the worklist unless the modality asks for a status.
    HIDDEN_STATUSES = (Status.CANCELED, Status.DISCONTINUED, Status.HELD)

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="orders")
    placer_order_number = models.CharField(max_length=64, blank=True, default="")
    placer_issuer = models.CharField(max_length=64, blank=True, default="")
    filler_order_number = models.CharField(max_length=64, blank=True, default="")
    filler_issuer = models.CharField(max_length=64, blank=True, default="")
    accession_number = models.CharField(max_length=16, blank=True, default="")
    accession_issuer = models.CharField(max_length=64, blank=True, default="")
    referring_physician_name = models.CharField(max_length=200, blank=True, default="")
    requesting_physician_name = models.CharField(max_length=200, blank=True, default="")
    priority = models.CharField(max_length=16, blank=True, default="ROUTINE")
    reason_for_procedure = models.CharField(max_length=200, blank=True, default="")
    admission_id = models.CharField(max_length=64, blank=True, default="")
    current_patient_location = models.CharField(max_length=64, blank=True, default="")
    patient_transport_arrangements = models.CharField(max_length=64, blank=True, default="")
    medical_alerts = models.CharField(max_length=64, blank=True, default="")
    patient_state = models.CharField(max_length=64, blank=True, default="")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.SCHEDULED, db_index=True)
    # The RIS that placed the order (MSH-3/MSH-4) and the HL7 version it speaks, for replies.
    sending_application = models.CharField(max_length=64, blank=True, default="")
    sending_facility = models.CharField(max_length=64, blank=True, default="")
    hl7_version = models.CharField(max_length=8, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["placer_order_number", "placer_issuer"],
                condition=~Q(placer_order_number=""),
                name="unique_placer_order_number",
            ),
        ]
        indexes = [
            models.Index(fields=["accession_number"], name="order_accession_idx"),
            # The dashboard's search finds an accession in any case: UPPER(accession_number) = 'ACC1' from this index.
            models.Index(Upper("accession_number"), name="order_accession_upper_idx"),
            models.Index(fields=["filler_order_number"], name="order_filler_idx"),
            models.Index(fields=["created_at"], name="order_created_idx"),
        ]

    def __str__(self):
        return f"Order {self.accession_number or self.placer_order_number}"


class RequestedProcedure(models.Model):
    order = models.ForeignKey(ImagingOrder, on_delete=models.CASCADE, related_name="requested_procedures")
    requested_procedure_id = models.CharField(max_length=16, blank=True, default="")
    description = models.CharField(max_length=64, blank=True, default="")
    code_value = models.CharField(max_length=64, blank=True, default="")
    code_scheme = models.CharField(max_length=64, blank=True, default="")
    code_meaning = models.CharField(max_length=64, blank=True, default="")
    study_instance_uid = models.CharField(max_length=64, unique=True)
    comments = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["requested_procedure_id"], name="rp_id_idx")]

    def __str__(self):
        return f"{self.requested_procedure_id} {self.description}"


class ScheduledProcedureStep(models.Model):
    class Status(models.TextChoices):
        SCHEDULED = "SCHEDULED", "Scheduled"
        ARRIVED = "ARRIVED", "Arrived"
        READY = "READY", "Ready"
        STARTED = "STARTED", "Started"
        COMPLETED = "COMPLETED", "Completed"
        DISCONTINUED = "DISCONTINUED", "Discontinued"
        CANCELED = "CANCELED", "Canceled"

    # The status groups, defined here once. Still to be done: the worklist shows these by default.
    WAITING_STATUSES = (Status.SCHEDULED, Status.ARRIVED, Status.READY)
    # Not finished yet (a modality may have started it).
    ACTIVE_STATUSES = (*WAITING_STATUSES, Status.STARTED)
    # Nothing more happens to the step.
    FINAL_STATUSES = (Status.COMPLETED, Status.DISCONTINUED, Status.CANCELED)

    requested_procedure = models.ForeignKey(RequestedProcedure, on_delete=models.CASCADE, related_name="scheduled_steps")
    sps_id = models.CharField(max_length=16, blank=True, default="")
    modality = models.CharField(max_length=16, blank=True, default="")
    # One AE title; a step offered to a pool of scanners stores them joined by '\' (AE is VM 1-n).
    station_ae_title = models.CharField(max_length=200, blank=True, default="")
    station_name = models.CharField(max_length=200, blank=True, default="")
    location = models.CharField(max_length=16, blank=True, default="")
    start = models.DateTimeField(null=True, blank=True)
    # The RIS sent a date without a time (TQ1-7 `20261204`): `start` is the start of that day in the department's
    # zone, kept for ordering and date matching only; no time is shown or sent for it.
    start_date_only = models.BooleanField(default=False)
    performing_physician_name = models.CharField(max_length=200, blank=True, default="")
    performing_physician_search = models.CharField(max_length=200, blank=True, default="", editable=False)
    description = models.CharField(max_length=64, blank=True, default="")
    # [{"value": "...", "scheme": "...", "meaning": "..."}]
    protocol_codes = models.JSONField(default=list, blank=True)
    pre_medication = models.CharField(max_length=64, blank=True, default="")
    contrast_agent = models.CharField(max_length=64, blank=True, default="")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.SCHEDULED)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            models.Index(fields=["station_ae_title", "start"], name="sps_station_start_idx"),
            models.Index(fields=["modality", "start"], name="sps_modality_start_idx"),
            models.Index(fields=["status", "start"], name="sps_status_start_idx"),
            models.Index(fields=["sps_id"], name="sps_id_idx"),
        ]

    def __str__(self):
        return f"SPS {self.sps_id} {self.modality} {self.station_ae_title}"

    def save(self, *args, **kwargs):
        self.performing_physician_search = search_key(self.performing_physician_name)
        super().save(*args, **kwargs)

    @property
    def start_date(self):
        """The scheduled date in the department's zone (None without a start)."""
        return timezone.localtime(self.start).date() if self.start else None

    @property
    def start_time(self):
        """The scheduled wall-clock time in the department's zone; None when only a date is known."""
        return None if self.start is None or self.start_date_only else timezone.localtime(self.start).time()

    def start_text(self, part: str = "datetime") -> str:
        """The start as staff read it: `2026-12-04 08:30`, or `2026-12-04` when the RIS sent only a date (no time is
        made up for it); `part="time"`: `08:30` or `date only`. `—` without a start."""
        if self.start is None:
            return "—"
        local = timezone.localtime(self.start)
        if part == "time":
            return "date only" if self.start_date_only else f"{local:%H:%M}"
        return f"{local:%Y-%m-%d}" if self.start_date_only else f"{local:%Y-%m-%d %H:%M}"


class StationAssignmentRule(models.Model):
    """Site configuration: which station(s) get a step when the order names none.

    Empty match fields match anything; the most specific enabled rule (lowest `priority` first) wins.
    """

    priority = models.PositiveIntegerField(default=100)
    enabled = models.BooleanField(default=True)
    match_modality = models.CharField(max_length=16, blank=True, default="")
    match_procedure_code = models.CharField(max_length=64, blank=True, default="")
    match_location = models.CharField(max_length=64, blank=True, default="")
    # One or more stations, comma separated: "CT01,CT02".
    station_ae_titles = models.CharField(max_length=200)
    station_names = models.CharField(max_length=200, blank=True, default="")
    description = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        ordering = ["priority", "id"]

    def __str__(self):
        return f"{self.match_modality or '*'}/{self.match_procedure_code or '*'}/{self.match_location or '*'} → {self.station_ae_titles}"
