import uuid

from django.utils import timezone
from django.utils.text import slugify

from billing.models import Membership, Team
from core.attribution import parse_attribution_id
from core.errors import Conflict, ValidationFailed
from core.services_tx import service
from usage.services import cost_centers_create_missing


@service
def team_create(*, name: str, slug: str | None = None, owner=None) -> Team:
    """A team, its owner's membership and its cost center (a cycle from now)."""
    return _team_create(name=name, slug=slug, owner=owner, team_uuid=None)


@service
def team_register(
    *, attribution_id: str, name: str, slug: str | None = None, owner=None
) -> tuple[Team, bool]:
    """Register the payer `team:<uuid>` that another system (or usage that arrived first) already
    uses: the team with that uuid, created unless it exists; returns it and whether it was created.

    Idempotent like a PUT: the same id with the same name (and slug, when sent) again returns the
    existing team; another name or slug for it is a 409 `team_exists`. Its cost center is created
    with the first cycle starting at its earliest usage, if it has any (`first_cycle_starts`).
    """
    parsed = parse_attribution_id(attribution_id)
    if parsed.kind != "team":
        raise ValidationFailed(
            f"A team's attribution_id starts with 'team:' (got {attribution_id!r}).",
            code="invalid_attribution_id",
        )
    existing = Team.objects.filter(uuid=parsed.uuid).first()
    if existing is not None:
        if existing.name != (name or "").strip() or (slug and slug != existing.slug):
            raise Conflict(
                f"{existing.attribution_id} is already registered as {existing.name!r}"
                f" (slug {existing.slug!r}).",
                code="team_exists",
            )
        return existing, False
    return _team_create(name=name, slug=slug, owner=owner, team_uuid=parsed.uuid), True


def _team_create(*, name: str, slug: str | None, owner, team_uuid: uuid.UUID | None) -> Team:
    if not name or not name.strip():
        raise ValidationFailed("A team needs a name.", code="invalid_name")
    slug = slug or slugify(name)
    if Team.objects.filter(slug=slug).exists():
        raise Conflict(f"A team with slug {slug!r} already exists.", code="slug_taken")
    team = Team(name=name.strip(), slug=slug)
    if team_uuid is not None:
        team.uuid = team_uuid
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
