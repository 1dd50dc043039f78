"""The "Finance" group: what finance staff may see and do in the admin (docs/operations.md,
"Finance staff"). Set by billing migration 0006 and again after every `migrate` (billing's
AppConfig), so permissions of models added later, and a flushed test database, are covered.
Idempotent: the group ends with exactly these permissions, no more, no fewer.
"""

FINANCE_GROUP = "Finance"
# Everything of ours and of Stripe's and the job schedules, read-only.
VIEW_APPS = ["core", "audit", "usage", "traffic", "credits", "billing", "djstripe", "django_celery_beat"]
# Where finance acts: grants (create, void), ledgers (create, reset), credit notes (usage
# entries of kind creditnote, added to cost centers), cost centers (limit, strategy), disputes
# (resolve), teams and their members. Never delete; nothing of auth; no schedule editing.
ACT = {
    "credits": ["add_grant", "change_grant", "add_ledger", "change_ledger", "add_reset"],
    "usage": ["change_costcenter", "add_usageentry"],
    "billing": ["change_disputeblock", "add_team", "change_team", "add_membership", "change_membership"],
}
# Auto-recharge: finance may turn a team's on or off and change its threshold and target.
ACT["billing"] += ["change_autorecharge"]


def set_finance_permissions(apps) -> None:
    """`apps`: a migration's historical apps or `django.apps.apps`."""
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name=FINANCE_GROUP)
    wanted = list(
        Permission.objects.filter(content_type__app_label__in=VIEW_APPS, codename__startswith="view_")
    )
    for app_label, codenames in ACT.items():
        wanted += list(Permission.objects.filter(content_type__app_label=app_label, codename__in=codenames))
    group.permissions.set(wanted)


def sync_after_migrate(sender, **kwargs) -> None:
    """post_migrate is sent once per app, after that app's permissions exist: a few queries each."""
    from django.apps import apps

    set_finance_permissions(apps)
