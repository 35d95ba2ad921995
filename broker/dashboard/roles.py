"""The staff roles as Django groups: viewer (read), operator (act on the workflow), administrator (configure).

`sync_roles()` is idempotent: the data migration runs it once, and a post_migrate receiver runs it after
every `migrate` so models added later by other apps get their view permissions too.
"""
VIEWER, OPERATOR, ADMINISTRATOR = "viewer", "operator", "administrator"

# Every model of these apps can be seen by every role.
WORKFLOW_APPS = ("worklist", "mpps", "hl7", "dicom", "outbound", "routing")

ACTION_PERMISSIONS = ("replay_hl7", "manage_routing", "manage_outbound", "link_mpps")

# Site configuration an administrator adds, changes and deletes: (app_label, model_name).
CONFIGURATION_MODELS = (
    ("dicom", "remoteae"),
    ("hl7", "hl7sender"),
    ("routing", "destination"),
    ("routing", "routingrule"),
    ("outbound", "risendpoint"),
    ("outbound", "mppsdestination"),
    ("worklist", "stationassignmentrule"),
)

# Corrections an administrator may make to fields the protocols do not own (the admin keeps the rest read-only).
CORRECTABLE_MODELS = (
    ("worklist", "patient"),
    ("worklist", "imagingorder"),
    ("worklist", "scheduledprocedurestep"),
)


def role_permissions(Permission) -> dict[str, set]:
    """The permission rows each role holds, computed from the Permission model given (real or historical)."""
    view = set(Permission.objects.filter(content_type__app_label__in=WORKFLOW_APPS, codename__startswith="view_"))
    view |= set(Permission.objects.filter(content_type__app_label="dashboard", codename="view_dashboard"))
    actions = set(Permission.objects.filter(content_type__app_label="dashboard", codename__in=ACTION_PERMISSIONS))
    configuration = set()
    for app_label, model in CONFIGURATION_MODELS:
        configuration |= set(Permission.objects.filter(
            content_type__app_label=app_label, content_type__model=model,
            codename__in=[f"add_{model}", f"change_{model}", f"delete_{model}"]))
    for app_label, model in CORRECTABLE_MODELS:
        configuration |= set(Permission.objects.filter(
            content_type__app_label=app_label, content_type__model=model, codename=f"change_{model}"))
    # The audit trail (who did what to which patient) is the administrators' to read, nobody's to change; so is its
    # syslog outbox (retried or given up with manage_outbound).
    audit = set(Permission.objects.filter(content_type__app_label="audit",
                                          codename__in=["view_auditevent", "view_auditforward"]))
    return {VIEWER: view, OPERATOR: view | actions, ADMINISTRATOR: view | actions | configuration | audit}


def sync_roles(Group, Permission) -> None:
    for name, permissions in role_permissions(Permission).items():
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.add(*permissions)


def sync_roles_after_migrate(sender, apps=None, using="default", **kwargs):
    from django.contrib.auth.models import Group, Permission

    sync_roles(Group.objects.db_manager(using).model, Permission)
