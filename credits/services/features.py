"""Features: what grants pay for (rated credits or a usage meter)."""

import re
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from core.errors import Conflict, NotFound, ValidationFailed
from core.services_tx import service, writes_nothing
from credits.models import GENERIC_FEATURE_KEY, Feature

SLUG_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
SLUG = re.compile(SLUG_PATTERN.removesuffix("$") + r"\Z")  # `$` would let "key\n" through


class FeatureExists(Conflict):
    default_code = "feature_exists"

    def __init__(self, feature: Feature):
        super().__init__(f"A feature with key {feature.key!r} already exists.")
        self.feature = feature


@writes_nothing
def validate_feature_key(key: object) -> str:
    if not isinstance(key, str) or not SLUG.match(key):
        raise ValidationFailed(
            "key must be 1 to 64 lower-case letters, digits, - or _, starting with a letter or digit.",
            code="invalid_feature_key",
        )
    return key


@writes_nothing
def validate_meter_slug(meter_slug: object) -> str:
    if not isinstance(meter_slug, str) or not SLUG.match(meter_slug):
        raise ValidationFailed(
            f"meter_slug must be {GENERIC_FEATURE_KEY!r} or a usage meter's slug.", code="invalid_meter_slug"
        )
    return meter_slug


@service
def feature_create(
    *,
    key: str,
    name: str | None = None,
    meter_slug: str = GENERIC_FEATURE_KEY,
    metadata_filters: dict | None = None,
) -> Feature:
    """A feature; FeatureExists (409) when the key is taken, archived features included.

    The key `credits` names rated usage credits (what a grant without a feature pays for); a
    feature may take it only with the meter `credits`, and is then that same feature.
    """
    key = validate_feature_key(key)
    meter_slug = validate_meter_slug(meter_slug)
    if key == GENERIC_FEATURE_KEY and meter_slug != GENERIC_FEATURE_KEY:
        raise ValidationFailed(
            f"The key {GENERIC_FEATURE_KEY!r} names rated usage credits; its meter_slug must be "
            f"{GENERIC_FEATURE_KEY!r}.",
            code="invalid_meter_slug",
        )
    if metadata_filters is None:
        metadata_filters = {}
    if not isinstance(metadata_filters, dict):
        raise ValidationFailed("metadata_filters must be a JSON object.", code="invalid_metadata_filters")
    name = (name or "").strip() or key
    feature = Feature(key=key, name=name[:200], meter_slug=meter_slug, metadata_filters=metadata_filters)
    try:
        # A savepoint that buys something: after losing the race for the key we still read the
        # existing feature for the 409.
        with transaction.atomic():
            feature.full_clean(validate_unique=False)
            feature.save()
    except IntegrityError:
        raise FeatureExists(Feature.objects.get(key=key)) from None
    return feature


@service
def feature_archive(*, key: str, now: datetime | None = None) -> Feature:
    """DELETE /features/<key>: archive (grants keep their feature); archiving again is a no-op."""
    feature = Feature.objects.select_for_update().filter(key=key).first()
    if feature is None:
        raise NotFound(f"There is no feature {key!r}.", code="feature_not_found")
    if feature.archived_at is None:
        feature.archived_at = now or timezone.now()
        feature.save(update_fields=["archived_at", "updated_at"])
    return feature
