"""Remote application entities seen or configured, and the log of worklist queries."""
from django.db import models

from broker.outbound.models import PeerTLS

# The services a remote AE may be allowed (RemoteAE.allowed_services; broker.dicom.registry.refusal).
SERVICES = [
    ("echo", "Verification (C-ECHO)"),
    ("mwl", "Modality Worklist (C-FIND)"),
    ("mpps", "MPPS (N-CREATE / N-SET)"),
    ("store", "Storage (C-STORE)"),
    ("commitment", "Storage Commitment (N-ACTION)"),
]


class RemoteAE(PeerTLS):
    """A remote AE: what it may do here, and its address (with TLS when use_tls) for what the broker sends it."""

    ae_title = models.CharField(max_length=16, unique=True)
    host = models.CharField(max_length=255, blank=True, default="")
    port = models.PositiveIntegerField(null=True, blank=True)
    description = models.CharField(max_length=200, blank=True, default="")
    # Specific Character Set for responses to this AE, e.g. "ISO_IR 100" or "ISO 2022 IR 6\ISO 2022 IR 87";
    # empty: the character set of the AE's query, else BROKER_MWL_DEFAULT_CHARSET.
    character_set = models.CharField(max_length=64, blank=True, default="")
    # Services this AE may use: any of "echo", "mwl", "mpps", "store", "commitment"; empty = all.
    # host and port are also where storage commitment reports go when the requesting association has closed.
    allowed_services = models.JSONField(default=list, blank=True)
    auto_registered = models.BooleanField(default=False)
    last_seen = models.DateTimeField(null=True, blank=True)
    # Optional: calls with this AE title are accepted only from this address or network (CIDR, e.g. 10.1.2.0/24).
    host_binding = models.CharField(max_length=64, blank=True, default="",
                                    help_text="address or network (CIDR) this AE must call from; empty = any")
    # Refused associations of this AE title (unknown, wrong host, over a cap): counted here, one row per title.
    refused_count = models.PositiveIntegerField(default=0)
    last_refused_at = models.DateTimeField(null=True, blank=True)
    last_refused_address = models.CharField(max_length=64, blank=True, default="")
    # Worklist scope: the steps this AE's C-FINDs may return, ANDed with its own keys; both empty = all steps
    # (or BROKER_MWL_UNKNOWN_AE_SCOPE while the AE is not known).
    worklist_stations = models.JSONField(default=list, blank=True,
                                         help_text='Scheduled Station AE Titles whose steps it may see, e.g. ["CT01"]; '
                                         "empty = any")
    worklist_modalities = models.JSONField(default=list, blank=True,
                                           help_text='modalities whose steps it may see, e.g. ["CT"]; empty = any')

    class Meta:
        verbose_name = "remote AE"
        verbose_name_plural = "remote AEs"

    def __str__(self):
        return self.ae_title

    @property
    def name(self) -> str:  # how TLS configuration errors name a peer (broker.outbound.tls)
        return self.ae_title


class WorklistQuery(models.Model):
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)
    calling_ae = models.CharField(max_length=16, db_index=True)
    peer = models.CharField(max_length=100, blank=True, default="")
    identifier = models.JSONField(default=dict)  # the request identifier, pydicom JSON
    keys_summary = models.TextField(blank=True, default="")  # human-readable matching keys
    match_count = models.PositiveIntegerField(default=0)
    duration_ms = models.FloatField(default=0)
    status = models.PositiveIntegerField(default=0)  # final DIMSE status
    error_comment = models.CharField(max_length=200, blank=True, default="")
    # The calling AE's worklist scope when it had one (worklist.mwl.scope.Scope.as_json), and the steps the
    # query's keys matched that the scope kept out of the answer.
    scope = models.JSONField(null=True, blank=True)
    hidden_by_scope = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = "worklist query"
        verbose_name_plural = "worklist queries"

    def __str__(self):
        return f"{self.calling_ae} {self.received_at:%Y-%m-%d %H:%M:%S} {self.match_count}"
