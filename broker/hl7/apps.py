from django.apps import AppConfig


class Hl7Config(AppConfig):
    name = "broker.hl7"
    label = "hl7"
    verbose_name = "HL7 messages"
