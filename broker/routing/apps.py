from django.apps import AppConfig


class RoutingConfig(AppConfig):
    name = "broker.routing"
    label = "routing"
    verbose_name = "Storage and routing"

    def ready(self):
        # Signal receivers are connected once the app registry is ready (their modules import models).
        from broker.routing import completion, jobs
        from broker.routing.signals import study_completed
        from mpps.signals import performed_step_finalized

        performed_step_finalized.connect(completion.performed_step_finalized, dispatch_uid="routing.completion")
        study_completed.connect(jobs.on_study_completed, dispatch_uid="routing.jobs")
