"""OpenAPI schema generation: unique component names, Tally's bearer credentials, and the
error responses every operation can give (so the schema tells the truth to clients and fuzzers)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension, OpenApiSerializerFieldExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import extend_schema_serializer
from rest_framework import permissions, serializers

from core.attribution import ATTRIBUTION_PATTERN
from core.pagination import MAX_PAGE, MAX_PER_PAGE
from core.serializers import CREDITS_PATTERN
from core.timeutils import TIME_PATTERN

# --- Shared by every app's OpenAPI examples and list responses -------------------------------

ATTRIBUTION_EXAMPLE = "team:8a4f1a2e-55c1-4b6e-9a51-2f4d7c3e9b10"


class PaginationSerializer(serializers.Serializer):
    """The `pagination` block of every list response (core.pagination builds it)."""

    page = serializers.IntegerField()
    per_page = serializers.IntegerField()
    total = serializers.IntegerField()
    total_pages = serializers.IntegerField()


def pagination_example(total: int, per_page: int = 50) -> dict:
    return {"page": 1, "per_page": per_page, "total": total, "total_pages": 1 if total else 0}


@extend_schema_serializer(component_name="Error")
class ErrorSerializer(serializers.Serializer):
    """Every API error body (core/errors.py)."""

    error = serializers.CharField(help_text="A stable code, e.g. `not_found`, `invalid_attribution_id`.")
    message = serializers.CharField(help_text="A sentence a person can act on.")
    details = serializers.JSONField(required=False, help_text="Field errors or the conflicting object.")


ERROR_DESCRIPTIONS = {
    "400": "Bad input (malformed JSON, a field or parameter that does not validate)",
    "401": "No credential, or one that is not valid (unknown or revoked key)",
    "403": "The credential may not do this",
    "404": "Not found, or not visible to this credential",
    "409": "Conflict (exists already, lock busy)",
    "413": "Payload too large",
    "429": "Throttled; retry after Retry-After seconds",
}
# Parameters whose value names something a caller may not see: a 404 when it is not visible.
_LOOKUP_QUERY_PARAMETERS = {"attribution_id", "account_uuid"}
_OPEN_PERMISSIONS = (permissions.AllowAny, permissions.IsAuthenticated)
_PAGE_BOUNDS = {"page": MAX_PAGE, "per_page": MAX_PER_PAGE}  # core.pagination.parse_page_params


class TallyAutoSchema(AutoSchema):
    """Views nest `InputSerializer` / `OutputSerializer` (HackSoft style); prefix the view's
    name so every endpoint's components stay distinct in the schema.

    Every operation also lists the error statuses it can answer, each with the `Error` body:
    401 when it needs a credential; 403 when its permission is narrower than "authenticated"
    or it is a write (a session caller's CSRF check); 400 when it takes a body or parameters;
    404 when a path or lookup parameter names an object; 429 when it is throttled. A view adds
    others (409, 413, 503, ...) with `OpenApiResponse(description=...)` in `extend_schema`;
    any 4xx/5xx declared without a body gets the `Error` body here.
    """

    def _map_serializer(self, serializer, direction, bypass_extensions=False):
        # An input serializer whose fields are all optional but that needs at least one of them
        # sets `schema_min_properties` (e.g. a cost center's PUT: a limit, a strategy or both).
        result = super()._map_serializer(serializer, direction, bypass_extensions)
        minimum = getattr(serializer, "schema_min_properties", None)
        if minimum and direction == "request":
            result["minProperties"] = minimum
        return result

    def _get_request_for_media_type(self, serializer, direction="request"):
        # A body the view needs is a required body: a raw schema (the events array or object)
        # and a serializer that needs at least one property (drf-spectacular says "optional").
        schema, required = super()._get_request_for_media_type(serializer, direction)
        if schema and (isinstance(serializer, dict) or getattr(serializer, "schema_min_properties", None)):
            required = True
        return schema, required

    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        for parameter in operation.get("parameters", []):
            schema = parameter["schema"]
            if parameter["name"] == "attribution_id" and schema.get("type") == "string":
                schema["pattern"] = ATTRIBUTION_PATTERN
            elif schema.get("format") == "date-time":
                schema["pattern"] = TIME_PATTERN
            elif parameter["name"] in _PAGE_BOUNDS and schema.get("type") == "integer":
                schema["minimum"], schema["maximum"] = 1, _PAGE_BOUNDS[parameter["name"]]
        responses = operation.setdefault("responses", {})
        error_ref = None
        for code in sorted(self._error_statuses(operation) | self._declared_errors(responses)):
            if responses.get(code, {}).get("content"):
                continue
            if error_ref is None:
                error_ref = self.resolve_serializer(ErrorSerializer, "response").ref
            description = responses.get(code, {}).get("description") or ERROR_DESCRIPTIONS.get(code, "Error")
            responses[code] = {
                "content": {"application/json": {"schema": error_ref}},
                "description": description,
            }
        return operation

    @staticmethod
    def _declared_errors(responses: dict) -> set[str]:
        return {code for code in responses if code[:1] in ("4", "5")}

    def _error_statuses(self, operation: dict) -> set[str]:
        codes: set[str] = set()
        parameters = operation.get("parameters", [])
        if any(requirement for requirement in operation.get("security", [])):
            codes.add("401")
            narrower = any(not isinstance(p, _OPEN_PERMISSIONS) for p in self.view.get_permissions())
            if narrower or self.method not in permissions.SAFE_METHODS:
                codes.add("403")
        if "requestBody" in operation or parameters:
            codes.add("400")
        if any(
            p["in"] == "path" or (p["in"] == "query" and p["name"] in _LOOKUP_QUERY_PARAMETERS)
            for p in parameters
        ):
            codes.add("404")
        if self.view.get_throttles():
            codes.add("429")
        return codes

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


class CreditsSerializerFieldExtension(OpenApiSerializerFieldExtension):
    """Credits leave as a 6-place string; they arrive as such a string or as a JSON number."""

    target_class = "core.serializers.CreditsSerializerField"

    def map_serializer_field(self, auto_schema, direction):
        string = {"type": "string", "format": "decimal", "pattern": CREDITS_PATTERN}
        if direction == "response":
            return string
        return {"oneOf": [string, {"type": "number"}]}
