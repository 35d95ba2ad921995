"""The admin site's titles; each app's admin.py registers its own models."""
from django.contrib import admin

admin.site.site_header = "Worklist broker administration"
admin.site.site_title = "Worklist broker"
admin.site.index_title = "Configuration and records"
admin.site.site_url = "/"

# Plural names Django derives badly from the class names ("H l7 messages", "Remote aes", "Worklist querys");
# the models' own verbose names belong to their apps, so the admin's index and sidebar say them properly here.
MODEL_LABELS = {
    "HL7Message": "HL7 messages",
    "RemoteAE": "Remote AEs",
    "WorklistQuery": "Worklist queries",
    "PerformedSeries": "Performed series",
    "MppsDestination": "MPPS destinations",
    "MppsForward": "MPPS forwards",
    "RisEndpoint": "RIS endpoints",
    "RisNotification": "RIS notifications",
}

_get_app_list = admin.site.get_app_list


def _get_app_list_with_labels(request, app_label=None):
    app_list = _get_app_list(request, app_label)
    for app in app_list:
        for model in app["models"]:
            model["name"] = MODEL_LABELS.get(model["object_name"], model["name"])
    return app_list


admin.site.get_app_list = _get_app_list_with_labels
