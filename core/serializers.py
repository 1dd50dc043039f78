"""DRF fields for Tally's wire formats: credits as 6-place strings, RFC 3339 times with Z."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.attribution import normalize_attribution_id
from core.errors import ApplicationError
from core.money import CREDITS_MAX_DIGITS, CREDITS_PLACES, to_credits
from core.timeutils import format_rfc3339, parse_rfc3339


class CreditsField(serializers.DecimalField):
    """Credits in JSON: rendered as "12.500000"; accepted as a string, an int or an exact
    decimal number (parsed as Decimal by DecimalJSONParser), never a float."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_digits", CREDITS_MAX_DIGITS)
        kwargs.setdefault("decimal_places", CREDITS_PLACES)
        kwargs.setdefault("coerce_to_string", True)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if isinstance(data, bool | float):
            self.fail("invalid")
        try:
            to_credits(data)
        except TypeError:
            self.fail("invalid")
        except ValueError:
            pass  # the parent names the exact problem (places, digits)
        return super().to_internal_value(data)


@extend_schema_field(OpenApiTypes.DATETIME)
class TimeField(serializers.Field):
    """RFC 3339 in, RFC 3339 with Z out; a time without a zone is refused."""

    default_error_messages = {"invalid": "Must be an RFC 3339 time with a zone, e.g. 2026-11-23T12:00:00Z."}

    def to_internal_value(self, data):
        try:
            return parse_rfc3339(data, field=self.field_name or "time")
        except ApplicationError as exc:
            raise serializers.ValidationError(exc.message) from None

    def to_representation(self, value):
        return format_rfc3339(value)


class AttributionIdField(serializers.CharField):
    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        try:
            return normalize_attribution_id(value, field=self.field_name or "attribution_id")
        except ApplicationError as exc:
            raise serializers.ValidationError(exc.message, code="invalid_attribution_id") from None
