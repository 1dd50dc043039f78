"""Output shapes shared by the credits endpoints, and input aliases callers may use."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.schema import ATTRIBUTION_EXAMPLE
from core.serializers import CreditsSerializerField, TimeField


def with_aliases(data, aliases: dict[str, str]):
    """Copy `alias` to `name` when only the alias was sent (e.g. `subject` / `attribution_id`)."""
    if not hasattr(data, "keys"):
        return data
    data = {key: data[key] for key in data}
    for alias, name in aliases.items():
        if alias in data and name not in data:
            data[name] = data[alias]
    return data


class FeatureSerializer(serializers.Serializer):
    key = serializers.CharField()
    name = serializers.CharField()
    meter_slug = serializers.CharField()
    metadata_filters = serializers.JSONField()
    archived_at = TimeField(allow_null=True)
    created_at = TimeField()


class LedgerSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    subject = serializers.CharField(source="attribution_id")
    attribution_id = serializers.CharField()
    created_at = TimeField()


class ExpirationSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    duration = serializers.CharField()


class RolloverSerializer(serializers.Serializer):
    type = serializers.CharField()
    max_amount = CreditsSerializerField(allow_null=True)
    min_amount = CreditsSerializerField(allow_null=True)


class GrantSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    attribution_id = serializers.CharField(source="ledger.attribution_id")
    feature = serializers.CharField(source="feature.key", allow_null=True)
    amount = CreditsSerializerField()
    priority = serializers.IntegerField()
    effective_at = TimeField()
    expiration = serializers.SerializerMethodField()
    expires_at = TimeField(allow_null=True)
    rollover = serializers.SerializerMethodField()
    metadata = serializers.JSONField()
    voided_at = TimeField(allow_null=True)
    parent_id = serializers.IntegerField(allow_null=True)
    reset_id = serializers.IntegerField(allow_null=True)
    created_at = TimeField()

    @extend_schema_field(ExpirationSerializer(allow_null=True))
    def get_expiration(self, grant):
        if grant.expiration_count is None:
            return None
        return {"count": grant.expiration_count, "duration": grant.expiration_unit}

    @extend_schema_field(RolloverSerializer(allow_null=True))
    def get_rollover(self, grant):
        if grant.rollover_type is None:
            return None
        return RolloverSerializer(
            {
                "type": grant.rollover_type,
                "max_amount": grant.rollover_max_amount,
                "min_amount": grant.rollover_min_amount,
            }
        ).data


GRANT_EXAMPLE = {
    "id": 42,
    "attribution_id": ATTRIBUTION_EXAMPLE,
    "feature": None,
    "amount": "100.000000",
    "priority": 1,
    "effective_at": "2026-11-01T00:00:00Z",
    "expiration": {"count": 1, "duration": "MONTH"},
    "expires_at": "2026-12-01T00:00:00Z",
    "rollover": {"type": "REMAINING_AMOUNT", "max_amount": "50.000000", "min_amount": None},
    "metadata": {"reason": "welcome credits"},
    "voided_at": None,
    "parent_id": None,
    "reset_id": None,
    "created_at": "2026-11-01T09:12:44Z",
}
