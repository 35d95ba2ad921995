"""How long the growing logs are kept, and the running totals that let /metrics count them without a full scan."""
from django.apps import AppConfig


class RetentionConfig(AppConfig):
    name = "broker.retention"
    label = "retention"
    verbose_name = "Retention"
