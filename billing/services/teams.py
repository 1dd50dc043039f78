from django.utils import timezone
from django.utils.text import slugify

from billing.models import Membership, Team
from core.errors import Conflict, ValidationFailed
from core.services_tx import service
from usage.services import cost_centers_create_missing


@service
def team_create(*, name: str, slug: str | None = None, owner=None) -> Team:
    """A team, its owner's membership and its cost center (a cycle from now)."""
    if not name or not name.strip():
        raise ValidationFailed("A team needs a name.", code="invalid_name")
    slug = slug or slugify(name)
    if Team.objects.filter(slug=slug).exists():
        raise Conflict(f"A team with slug {slug!r} already exists.", code="slug_taken")
    team = Team(name=name.strip(), slug=slug)
    team.full_clean()
    team.save()
    cost_centers_create_missing(attribution_ids=[team.attribution_id], now=timezone.now())
    if owner is not None:
        _membership_add(team=team, user=owner, role=Membership.Role.OWNER)
    return team


@service
def membership_add(*, team: Team, user, role: str = Membership.Role.MEMBER) -> Membership:
    return _membership_add(team=team, user=user, role=role)


def _membership_add(*, team: Team, user, role: str) -> Membership:
    membership, _ = Membership.objects.update_or_create(team=team, user=user, defaults={"role": role})
    return membership
