"""The team's own budget as the API and the "Your budget" card read it (reads only).

Finance's spending limit is the ceiling; a team owner may set a lower budget
(`usage.services.cost_center_set_team_budget`). What applies everywhere the limit is enforced is
the lower of the two (`usage.selectors.effective_spending_limit`): the entitlement check refuses
usage that credits do not cover once the cycle's billable credits reach it, and an `other` cost
center's invoice at cycle close is capped at it.
"""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.utils import timezone

from billing.selectors import billable_credits
from core.money import format_credits_for_people
from usage.selectors import cost_center_get_or_default, effective_spending_limit

AT_THE_LIMIT = (
    "Once this cycle's billable credits (usage not paid by credits) reach {limit} credits, usage "
    "that your remaining credits do not cover is refused until the next cycle starts; usage your "
    "credits pay for goes on."
)


@dataclass(frozen=True)
class TeamBudget:
    attribution_id: str
    spending_limit: Decimal  # finance's ceiling
    team_budget: Decimal | None
    effective_limit: Decimal
    applies: str  # "team_budget" or "spending_limit"
    ceiling_below_budget: bool  # finance lowered its limit below the budget: finance's applies
    billable_credits: Decimal
    limit_reached: bool
    at_the_limit: str  # what happens there, in words

    @property
    def remaining(self) -> Decimal:
        return max(self.effective_limit - self.billable_credits, Decimal(0))


def team_budget_get(*, attribution_id: str, now: datetime | None = None) -> TeamBudget:
    now = now or timezone.now()
    cost_center = cost_center_get_or_default(attribution_id=attribution_id, now=now)
    limit = effective_spending_limit(cost_center)
    budget = cost_center.team_budget
    billable = billable_credits(attribution_id=attribution_id, now=now)
    return TeamBudget(
        attribution_id=attribution_id,
        spending_limit=cost_center.spending_limit,
        team_budget=budget,
        effective_limit=limit,
        applies="team_budget"
        if budget is not None and budget < cost_center.spending_limit
        else "spending_limit",
        ceiling_below_budget=budget is not None and cost_center.spending_limit < budget,
        billable_credits=billable,
        limit_reached=billable >= limit,
        at_the_limit=AT_THE_LIMIT.format(limit=format_credits_for_people(limit)),
    )
