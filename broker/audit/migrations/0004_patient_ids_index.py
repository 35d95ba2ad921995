from django.db import migrations

# The audit page's patient filter ("who accessed this record") is JSON containment, patient_ids @> '["P1"]': a GIN
# index answers it on PostgreSQL without reading the whole trail (broker.audit.search). SQLite has no such index.
CREATE = ("CREATE INDEX IF NOT EXISTS audit_event_patient_ids_gin "
          "ON audit_auditevent USING gin (patient_ids jsonb_path_ops)")
DROP = "DROP INDEX IF EXISTS audit_event_patient_ids_gin"


def create_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def drop_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):

    dependencies = [
        ("audit", "0003_purge_anchor"),
    ]

    operations = [
        migrations.RunPython(create_index, drop_index, elidable=False),
    ]
