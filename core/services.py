from datetime import timedelta

from django.utils import timezone

from core.attribution import normalize_attribution_id
from core.errors import Conflict, ValidationFailed
from core.hooks import change_recorded
from core.models import APIKey, generate_api_key, hash_api_key
from core.services_tx import service


def _audit_state(api_key: APIKey) -> dict:
    # The prefix tells keys apart; the key and its hash never enter the audit trail.
    return {
        "name": api_key.name,
        "attribution_id": api_key.attribution_id,
        "prefix": api_key.prefix,
        "created_by": api_key.created_by.get_username() if api_key.created_by_id else None,
        "revoked_at": api_key.revoked_at,
    }


@service
def api_key_create(*, name: str, attribution_id: str, created_by=None) -> tuple[APIKey, str]:
    """Create a key; the raw key is returned once and never stored."""
    if not name or not name.strip():
        raise ValidationFailed("An API key needs a name.", code="invalid_name")
    raw_key = generate_api_key()
    api_key = APIKey(
        name=name.strip(),
        attribution_id=normalize_attribution_id(attribution_id),
        prefix=raw_key[:12],
        key_hash=hash_api_key(raw_key),
        created_by=created_by,
    )
    api_key.full_clean()
    api_key.save()
    change_recorded(
        action="api_key.created",
        object_type="api_key",
        object_id=api_key.pk,
        attribution_id=api_key.attribution_id,
        after=_audit_state(api_key),
    )
    return api_key, raw_key


@service
def api_key_revoke(*, api_key: APIKey) -> APIKey:
    api_key = APIKey.objects.select_for_update().get(pk=api_key.pk)
    if api_key.revoked_at is not None:
        raise Conflict("This API key is already revoked.", code="already_revoked")
    before = _audit_state(api_key)
    api_key.revoked_at = timezone.now()
    api_key.save(update_fields=["revoked_at", "updated_at"])
    change_recorded(
        action="api_key.revoked",
        object_type="api_key",
        object_id=api_key.pk,
        attribution_id=api_key.attribution_id,
        before=before,
        after=_audit_state(api_key),
    )
    return api_key


@service
def api_key_delete(*, api_key: APIKey) -> None:
    """Remove a key's row (the admin's delete); its history stays in the audit trail."""
    api_key = APIKey.objects.select_for_update().get(pk=api_key.pk)
    change_recorded(
        action="api_key.deleted",
        object_type="api_key",
        object_id=api_key.pk,
        attribution_id=api_key.attribution_id,
        before=_audit_state(api_key),
    )
    api_key.delete()


LAST_USED_RESOLUTION = timedelta(minutes=1)


@service
def api_key_touch(*, api_key: APIKey) -> None:
    """Record use, at most once a minute per key (no write on every request)."""
    now = timezone.now()
    if api_key.last_used_at is None or now - api_key.last_used_at > LAST_USED_RESOLUTION:
        APIKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        api_key.last_used_at = now
