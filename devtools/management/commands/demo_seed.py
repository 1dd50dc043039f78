"""Demo data: two teams with members, finance staff, cost centers, workspace usage and meter events.

Safe to run twice."""

import json
import os
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.utils import timezone

from billing.finance_group import FINANCE_GROUP
from billing.models import Membership, Team
from billing.services import membership_add
from core.models import APIKey
from core.services import api_key_create, api_key_revoke
from usage.models import WorkspaceInstance
from usage.services import (
    cost_center_get_or_create,
    cost_center_set,
    meter_events_ingest,
    meter_rollups_rate,
    workspace_instance_report,
    workspace_instances_rate,
)

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

    # No transaction around the whole: each service owns its own, and a run that stopped
    # halfway is finished by running it again.
    def handle(self, *args, **options):
        teams = {}
        for slug, name in TEAMS:
            teams[slug], created = Team.objects.get_or_create(slug=slug, defaults={"name": name})
            self.stdout.write(f"  team {name} ({teams[slug].attribution_id}){' created' if created else ''}")
        user_model = get_user_model()
        for username, is_staff, memberships in USERS:
            user, created = user_model.objects.get_or_create(
                username=username, defaults={"email": f"{username}@example.com", "is_staff": is_staff}
            )
            if created:
                user.set_password(DEMO_PASSWORD)
                user.save()
            if is_staff:
                # Finance staff are in the Finance group (billing's migration 0006), never superusers.
                if user.is_superuser:
                    user.is_superuser = False
                    user.save(update_fields=["is_superuser"])
                user.groups.add(Group.objects.get(name=FINANCE_GROUP))
            for slug, role in memberships:
                membership_add(team=teams[slug], user=user, role=role)
        self._seed_usage(teams)
        self._seed_api_keys(teams)
        if os.environ.get("TALLY_DEMO_STRIPE") == "true":
            self._seed_stripe(teams)
        self.stdout.write(self.style.SUCCESS("Demo data loaded."))

    def _seed_stripe(self, teams: dict[str, Team]) -> None:
        """Stripe in test mode on the local stand-ins (`make demo` starts them): dj-stripe's rows,
        and Acme's customer with a saved test card, so alice can buy credits and auto-recharge."""
        from devtools.demo_stripe import ensure_customer_with_card, ensure_stripe_rows

        ensure_stripe_rows()
        customer_id = ensure_customer_with_card(
            attribution_id=teams["acme"].attribution_id, email="alice@example.com", name="Acme Rockets"
        )
        self.stdout.write(f"  Stripe (TEST MODE, local stand-ins): Acme is {customer_id}, with a test card")

    def _seed_api_keys(self, teams: dict[str, Team]) -> None:
        """A fresh Acme API key and a revoked one on every run (raw keys are shown once, so the
        previous run's keys are revoked); written to var/demo-credentials.json for `make demo`."""
        attribution_id = teams["acme"].attribution_id
        for old in APIKey.objects.filter(
            attribution_id=attribution_id, name__startswith="demo", revoked_at=None
        ):
            api_key_revoke(api_key=old)
        _, raw_key = api_key_create(name="demo", attribution_id=attribution_id)
        revoked, raw_revoked = api_key_create(name="demo (revoked)", attribution_id=attribution_id)
        api_key_revoke(api_key=revoked)
        credentials_file = settings.VAR_DIR / "demo-credentials.json"
        credentials_file.parent.mkdir(parents=True, exist_ok=True)
        credentials_file.write_text(
            json.dumps(
                {
                    "team_api_key": raw_key,
                    "revoked_api_key": raw_revoked,
                    "acme_attribution_id": attribution_id,
                },
                indent=2,
            )
            + "\n"
        )
        credentials_file.chmod(0o600)
        self.stdout.write(f"  API keys: a fresh Acme key and a revoked one in {credentials_file}")

    def _seed_usage(self, teams: dict[str, Team]) -> None:
        """Cost centers, and two weeks of workspace sessions priced by the ledger job."""
        now = timezone.now().replace(second=0, microsecond=0)
        cost_center_get_or_create(attribution_id=teams["acme"].attribution_id, now=now - timedelta(days=14))
        cost_center_set(attribution_id=teams["acme"].attribution_id, spending_limit="200", changed_by="demo")
        cost_center_get_or_create(attribution_id=teams["globex"].attribution_id, now=now - timedelta(days=3))
        if WorkspaceInstance.objects.exists():
            return
        for slug, per_day in (("acme", 3), ("globex", 1)):
            for day in range(14, 0, -1):
                for n in range(per_day):
                    start = now - timedelta(days=day, hours=n * 3)
                    minutes = 20 + 17 * ((day + n) % 5)
                    stop = start + timedelta(minutes=minutes)
                    workspace_instance_report(
                        instance_id=f"demo-{slug}-{day:02d}-{n}",
                        attribution_id=teams[slug].attribution_id,
                        workspace_class="g1-large" if n == 2 else "g1-standard",
                        started_at=start,
                        stopping_time=stop,
                        stopped_time=stop + timedelta(seconds=5),
                    )
        workspace_instance_report(
            instance_id="demo-acme-running",
            attribution_id=teams["acme"].attribution_id,
            workspace_class="g1-standard",
            started_at=now - timedelta(minutes=42),
        )
        result = workspace_instances_rate(now=now)
        self.stdout.write(f"  workspace usage priced: {result}")
        self._seed_meter_events(teams, now)
        self._seed_grants(teams, now)

    def _seed_grants(self, teams: dict[str, Team], now) -> None:
        """Acme has 150 prepaid credits and a promotional 50 that expires first."""
        from credits.services.grants import grant_create

        start = now - timedelta(days=14)
        grant_create(
            attribution_id=teams["acme"].attribution_id, amount="150", priority=2, effective_at=start, now=now
        )
        grant_create(
            attribution_id=teams["acme"].attribution_id,
            amount="50",
            priority=1,
            effective_at=start,
            expiration_count=1,
            expiration_unit="MONTH",
            now=now,
        )
        self.stdout.write("  credits: Acme granted 150 prepaid + 50 promotional")

    def _seed_meter_events(self, teams: dict[str, Team], now) -> None:
        """Two days of hourly meter events (deterministic keys: a re-run stores nothing twice)."""
        events = []
        for slug, scale in (("acme", 3), ("globex", 1)):
            for hours_ago in range(48, 0, -1):
                at = now - timedelta(hours=hours_ago)
                events.append(
                    {
                        "unique_key": f"demo-{slug}-node-{at:%Y%m%d%H}",
                        "attribution_id": teams[slug].attribution_id,
                        "occurred_at": at.isoformat(),
                        "amounts": {"container-seconds": 3600 * scale, "samples": 20_000 * scale},
                        "metadata": {"node": f"{slug}-node-1"},
                    }
                )
        results = meter_events_ingest(events=events)
        accepted = sum(1 for r in results if r.status == "accepted")
        rating = meter_rollups_rate(now=now)
        self.stdout.write(f"  meter events: {accepted} accepted; rated {rating['hours_rated']} meter-hours")
