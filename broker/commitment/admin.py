"""Admin for storage commitment: the requests with their outcome and the refused requests (read-only lists)."""
from django.contrib import admin

from broker.commitment import decision
from broker.commitment.models import RefusedCommitmentRequest, StorageCommitment
from broker.core.admin import ReadOnlyAdmin


@admin.register(StorageCommitment)
class StorageCommitmentAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "calling_ae", "transaction_uid", "instance_count", "state", "outcome",
                    "reported_via", "attempts", "next_attempt_at", "short_error")
    list_filter = ("state", "event_type", "reported_via", "calling_ae", "created_at")
    search_fields = ("=transaction_uid", "=calling_ae")

    @admin.display(description="outcome", ordering="event_type")
    def outcome(self, row):
        return decision.summary(row.committed, row.failed) if row.decided_at else "not decided yet"

    @admin.display(description="last error")
    def short_error(self, row):
        return row.last_error if len(row.last_error) <= 80 else row.last_error[:79] + "…"


@admin.register(RefusedCommitmentRequest)
class RefusedCommitmentRequestAdmin(ReadOnlyAdmin):
    list_display = ("received_at", "calling_ae", "peer", "transaction_uid", "status_hex", "error_comment")
    list_filter = ("calling_ae", "status", "received_at")
    search_fields = ("=transaction_uid", "=calling_ae", "error_comment")

    @admin.display(description="status", ordering="status")
    def status_hex(self, refused):
        return f"0x{refused.status:04X}"
