from django.db import transaction
from django.utils.text import slugify

from billing.models import Membership, Team
from core.errors import Conflict, ValidationFailed


@transaction.atomic
def team_create(*, name: str, slug: str | None = None, owner=None) -> Team:
    if not name or not name.strip():
        raise ValidationFailed("A team needs a name.", code="invalid_name")
    slug = slug or slugify(name)
    if Team.objects.filter(slug=slug).exists():
        raise Conflict(f"A team with slug {slug!r} already exists.", code="slug_taken")
    team = Team(name=name.strip(), slug=slug)
    team.full_clean()
    team.save()
    if owner is not None:
        membership_add(team=team, user=owner, role=Membership.Role.OWNER)
    return team


@transaction.atomic
def membership_add(*, team: Team, user, role: str = Membership.Role.MEMBER) -> Membership:
    membership, _ = Membership.objects.update_or_create(team=team, user=user, defaults={"role": role})
    return membership
