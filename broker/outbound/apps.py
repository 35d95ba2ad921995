from django.apps import AppConfig


class OutboundConfig(AppConfig):
    name = "broker.outbound"
    label = "outbound"
    verbose_name = "RIS and MPPS forwarding"

    def ready(self):
        from django.conf import settings

        from broker.celery import app
        from broker.outbound import receivers  # noqa: F401  (connects the mpps signal receivers)

        schedule = dict(app.conf.beat_schedule or {})
        schedule["outbound-sweep"] = {"task": "outbound.sweep", "schedule": settings.BROKER_OUTBOUND_SWEEP_SECONDS}
        app.conf.beat_schedule = schedule
