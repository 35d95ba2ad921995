from django.apps import AppConfig


class CommitmentConfig(AppConfig):
    name = "broker.commitment"
    label = "commitment"
    verbose_name = "Storage commitment"
