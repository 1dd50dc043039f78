"""What the team page's self-service cards read: the invoice preview, the budget, the allowances."""

from datetime import datetime

from django.utils import timezone

from billing.budget import team_budget_get
from billing.models import Team
from billing.upcoming import upcoming_invoice
from credits.selectors.allowances import allowance_template_list


def self_service_context(*, team: Team, now: datetime | None = None) -> dict:
    now = now or timezone.now()
    attribution_id = team.attribution_id
    return {
        "upcoming": upcoming_invoice(attribution_id=attribution_id, now=now),
        "budget": team_budget_get(attribution_id=attribution_id, now=now),
        "allowances": list(allowance_template_list(attribution_id=attribution_id, active_only=True)),
    }
