from django.apps import AppConfig


class OutboundConfig(AppConfig):
    name = "broker.outbound"
    label = "outbound"
    verbose_name = "RIS and MPPS forwarding"

    def ready(self):
        from broker.outbound import receivers  # noqa: F401  (connects the mpps signal receivers)
