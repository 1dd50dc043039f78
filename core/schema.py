"""OpenAPI schema generation: unique component names and Tally's bearer credentials."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema


class TallyAutoSchema(AutoSchema):
    """Views nest `InputSerializer` / `OutputSerializer` (HackSoft style); prefix the view's
    name so every endpoint's components stay distinct in the schema."""

    def _get_serializer_name(self, serializer, direction, bypass_extensions=False):
        name = super()._get_serializer_name(serializer, direction, bypass_extensions)
        cls = serializer if isinstance(serializer, type) else serializer.__class__
        outer = cls.__qualname__.split(".")[0]
        if "." in cls.__qualname__ and not name.startswith(outer):
            name = outer.removesuffix("Api") + name
        return name


class _Bearer(OpenApiAuthenticationExtension):
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "The internal service token, or a team API key (tally_…).",
        }


class InternalTokenScheme(_Bearer):
    name = "internalToken"
    target_class = "core.auth.InternalTokenAuthentication"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "The internal service token (staff machines).",
        }


class ApiKeyScheme(_Bearer):
    name = "apiKey"
    target_class = "core.auth.ApiKeyAuthentication"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "A team API key (tally_…), own data only."}
