"""The modality worklist and workflow broker: Django project, listeners and routing."""
from .celery import app as celery_app

__all__ = ("celery_app",)
