from django.apps import AppConfig


class RoutingConfig(AppConfig):
    name = "broker.routing"
    label = "routing"
    verbose_name = "Storage and routing"

    def ready(self):
        from django.conf import settings

        from broker.celery import app
        from broker.routing import completion, jobs
        from broker.routing.signals import study_completed
        from mpps.signals import performed_step_finalized

        performed_step_finalized.connect(completion.performed_step_finalized, dispatch_uid="routing.completion")
        study_completed.connect(jobs.on_study_completed, dispatch_uid="routing.jobs")
        app.conf.beat_schedule = {
            **(app.conf.beat_schedule or {}),
            "routing-sweep": {"task": "broker.routing.tasks.sweep", "schedule": settings.BROKER_ROUTING_SWEEP_SECONDS},
            "routing-retention": {"task": "broker.routing.tasks.delete_expired_files",
                                  "schedule": settings.BROKER_HOUSEKEEPING_SECONDS},
        }
