from django.apps import AppConfig


class DicomConfig(AppConfig):
    name = "broker.dicom"
    label = "dicom"
    verbose_name = "DICOM peers and queries"
