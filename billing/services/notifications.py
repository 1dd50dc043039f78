"""Telling a team's owners something by email (Django's email API, sent once the change commits).

Small on purpose: one function, plain text, the owners of one team. A later notification
system (rules, outbound webhooks) can take this over; callers only say whom and what.
"""

import logging

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction

from billing.models import Membership
from billing.selectors import teams_by_attribution_id
from core.attribution import normalize_attribution_id
from core.services_tx import writes_nothing

logger = logging.getLogger(__name__)


def _owner_emails(attribution_id: str) -> list[str]:
    team = teams_by_attribution_id([attribution_id]).get(attribution_id)
    if team is None:
        return []
    emails = (
        Membership.objects.filter(team=team, role=Membership.Role.OWNER)
        .exclude(user__email="")
        .order_by("user__email")
        .values_list("user__email", flat=True)
    )
    return list(dict.fromkeys(emails))


@writes_nothing
def notify_team_owners(*, attribution_id: str, subject: str, body: str) -> list[str]:
    """Email `subject`/`body` to the owners of the team `attribution_id` names, after the
    surrounding transaction commits (at once outside one), so a rolled-back change sends
    nothing. Returns the addresses it will write to; a failed send is logged, never raised:
    the change it reports has already happened."""
    attribution_id = normalize_attribution_id(attribution_id)
    recipients = _owner_emails(attribution_id)
    if not recipients:
        logger.warning("No owner with an email address to tell about %s: %s", attribution_id, subject)
        return []

    def send() -> None:
        message = EmailMessage(
            subject=subject, body=body, from_email=settings.DEFAULT_FROM_EMAIL, to=recipients
        )
        try:
            message.send()
        except Exception:
            logger.exception("Could not email the owners of %s: %s", attribution_id, subject)

    transaction.on_commit(send)
    return recipients
