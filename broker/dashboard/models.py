from django.db import models  # noqa: F401  (the dashboard owns no tables)
