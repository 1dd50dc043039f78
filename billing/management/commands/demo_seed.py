"""Demo data: two teams with members, an owner login, and finance staff. Safe to run twice."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from billing.models import Membership, Team
from billing.services import membership_add

DEMO_PASSWORD = "tally-demo"

USERS = [
    # username, is_staff, [(team slug, role)]
    ("alice", False, [("acme", Membership.Role.OWNER)]),
    ("bob", False, [("acme", Membership.Role.MEMBER)]),
    ("carol", False, [("globex", Membership.Role.OWNER)]),
    ("dave", False, [("globex", Membership.Role.MEMBER), ("acme", Membership.Role.MEMBER)]),
    ("finance", True, []),
]
TEAMS = [("acme", "Acme Rockets"), ("globex", "Globex Corporation")]


class Command(BaseCommand):
    help = "Load the demo data (teams, members, staff). Running it again changes nothing."

    @transaction.atomic
    def handle(self, *args, **options):
        teams = {}
        for slug, name in TEAMS:
            teams[slug], created = Team.objects.get_or_create(slug=slug, defaults={"name": name})
            self.stdout.write(f"  team {name} ({teams[slug].attribution_id}){' created' if created else ''}")
        user_model = get_user_model()
        for username, is_staff, memberships in USERS:
            user, created = user_model.objects.get_or_create(
                username=username,
                defaults={"email": f"{username}@example.com", "is_staff": is_staff, "is_superuser": is_staff},
            )
            if created:
                user.set_password(DEMO_PASSWORD)
                user.save()
            for slug, role in memberships:
                membership_add(team=teams[slug], user=user, role=role)
        self.stdout.write(self.style.SUCCESS("Demo data loaded."))
