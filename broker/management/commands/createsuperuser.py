"""createsuperuser with the password validators applied also to `--noinput` (DJANGO_SUPERUSER_PASSWORD).

Django checks AUTH_PASSWORD_VALIDATORS only when it prompts; a scripted install would otherwise create an
administrator with any password at all. Same options and behaviour as Django's command otherwise.
"""
import os

from django.contrib.auth import get_user_model
from django.contrib.auth.management.commands import createsuperuser
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import CommandError


class Command(createsuperuser.Command):
    def handle(self, *args, **options):
        password = os.environ.get("DJANGO_SUPERUSER_PASSWORD")
        if not options["interactive"] and password is not None:
            user_model = get_user_model()
            username = options.get(user_model.USERNAME_FIELD) or os.environ.get(
                f"DJANGO_SUPERUSER_{user_model.USERNAME_FIELD.upper()}", "")
            email = options.get("email") or os.environ.get("DJANGO_SUPERUSER_EMAIL", "")
            candidate = user_model(**{user_model.USERNAME_FIELD: username}, email=email)
            try:
                validate_password(password, candidate)
            except ValidationError as exc:
                raise CommandError("DJANGO_SUPERUSER_PASSWORD is refused: " + " ".join(exc.messages)) from None
        return super().handle(*args, **options)
