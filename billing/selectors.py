from django.db.models import QuerySet

from billing.models import Membership, Team
from core.attribution import team_attribution_id


def team_list_for_user(*, user) -> QuerySet[Team]:
    if not getattr(user, "is_authenticated", False):
        return Team.objects.none()
    return Team.objects.filter(memberships__user=user).order_by("name")


def attribution_ids_for_member(user) -> list[str]:
    uuids = Membership.objects.filter(user=user).values_list("team__uuid", flat=True)
    return [team_attribution_id(u) for u in uuids]


def attribution_ids_for_owner(user) -> list[str]:
    uuids = Membership.objects.filter(user=user, role=Membership.Role.OWNER).values_list(
        "team__uuid", flat=True
    )
    return [team_attribution_id(u) for u in uuids]
