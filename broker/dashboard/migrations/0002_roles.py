"""Creates the staff roles (viewer, operator, administrator) with their permissions. No users: see docs/dashboard.md."""
from django.db import migrations


def create_roles(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    from broker.dashboard.roles import sync_roles

    # Permissions are normally created after the whole migrate run; the groups need them now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0, using=schema_editor.connection.alias)
        app_config.models_module = None
    sync_roles(apps.get_model("auth", "Group"), apps.get_model("auth", "Permission"))


def remove_roles(apps, schema_editor):
    from broker.dashboard.roles import ADMINISTRATOR, OPERATOR, VIEWER

    apps.get_model("auth", "Group").objects.filter(name__in=[VIEWER, OPERATOR, ADMINISTRATOR]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("dashboard", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("worklist", "0001_initial"),
        ("mpps", "0001_initial"),
        ("hl7", "0001_initial"),
        ("dicom", "0001_initial"),
        ("outbound", "0001_initial"),
        ("routing", "0001_initial"),
    ]

    operations = [migrations.RunPython(create_roles, remove_roles)]
