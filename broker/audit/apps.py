from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "broker.audit"
    label = "audit"
    verbose_name = "Audit trail"

    def ready(self):
        # Log-in, failed log-in and log-out come from Django's auth signals (django-axes sends the failure too).
        from broker.audit import people

        people.connect()
