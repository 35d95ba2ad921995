from django.apps import AppConfig


class OutboundConfig(AppConfig):
    name = "broker.outbound"
    label = "outbound"
    verbose_name = "RIS and MPPS forwarding"
