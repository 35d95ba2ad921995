"""The admin site's titles; each app's admin.py registers its own models."""
from django.contrib import admin

admin.site.site_header = "Worklist broker administration"
admin.site.site_title = "Worklist broker"
admin.site.index_title = "Configuration and records"
admin.site.site_url = "/"

