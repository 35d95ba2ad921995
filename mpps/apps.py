from django.apps import AppConfig


class MppsConfig(AppConfig):
    name = "mpps"
    label = "mpps"
    verbose_name = "Performed procedure steps"
