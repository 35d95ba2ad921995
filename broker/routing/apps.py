from django.apps import AppConfig


class RoutingConfig(AppConfig):
    name = "broker.routing"
    label = "routing"
    verbose_name = "Storage and routing"
