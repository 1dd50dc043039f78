from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_serializer,
)
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from core.auth import IsStaffOrInternal
from core.errors import Conflict, NotFound
from core.pagination import paginated_response
from core.params import parse_bool_param
from core.schema import PaginationSerializer, pagination_example
from core.serializers import JSONObjectField, StrictInputSerializer
from credits.api.serializers import FeatureSerializer
from credits.models import GENERIC_FEATURE_KEY
from credits.selectors import feature_get, feature_list
from credits.services import FeatureExists, feature_archive, feature_create
from credits.services.features import SLUG_PATTERN

FEATURE_EXAMPLE = {
    "key": "api_calls",
    "name": "API calls",
    "meter_slug": "api-calls",
    "metadata_filters": {},
    "archived_at": None,
    "created_at": "2026-11-23T12:00:00Z",
}


@extend_schema_field({"type": "string", "pattern": SLUG_PATTERN})
class FeatureSlugField(serializers.CharField):
    """Checked by feature_create (400 `invalid_feature_key` / `invalid_meter_slug`); the schema
    states the pattern."""

    def __init__(self, **kwargs):
        super().__init__(trim_whitespace=False, **kwargs)


class FeatureListCreateApi(APIView):
    """Features: anyone with a credential reads them; staff and the internal service add them."""

    @extend_schema_serializer(component_name="FeatureCreateInput")
    class InputSerializer(StrictInputSerializer):
        key = FeatureSlugField()
        name = serializers.CharField(max_length=200, required=False, allow_blank=True)
        meter_slug = FeatureSlugField(required=False, default=GENERIC_FEATURE_KEY)
        metadata_filters = JSONObjectField(required=False, default=dict)

    @extend_schema_serializer(component_name="FeatureList")
    class OutputListSerializer(serializers.Serializer):
        results = FeatureSerializer(many=True)
        pagination = PaginationSerializer()

    def get_permissions(self):
        if self.request.method == "POST":
            return [IsStaffOrInternal()]
        return super().get_permissions()

    @extend_schema(
        parameters=[
            OpenApiParameter("include_archived", OpenApiTypes.BOOL, description="Default false"),
            OpenApiParameter("page", int, description="1-based"),
            OpenApiParameter("per_page", int, description="Default 50, at most 1000"),
        ],
        responses=OutputListSerializer,
        summary="List features",
        examples=[
            OpenApiExample(
                "Features",
                value={"results": [FEATURE_EXAMPLE], "pagination": pagination_example(1)},
                response_only=True,
            )
        ],
    )
    def get(self, request):
        include_archived = parse_bool_param(request.query_params, "include_archived")
        features = feature_list(include_archived=include_archived)
        return paginated_response(
            request=request, rows=features, serializer_class=FeatureSerializer, view=self
        )

    @extend_schema(
        request=InputSerializer,
        responses={
            201: FeatureSerializer,
            409: OpenApiResponse(description="The key is taken (`feature_exists`)"),
        },
        summary="Create a feature (meter_slug: a usage meter, or `credits` for rated credits)",
        examples=[
            OpenApiExample(
                "Metered feature",
                value={"key": "api_calls", "name": "API calls", "meter_slug": "api-calls"},
                request_only=True,
            ),
            OpenApiExample("Created", value=FEATURE_EXAMPLE, response_only=True, status_codes=["201"]),
            OpenApiExample(
                "Key taken",
                value={
                    "error": "feature_exists",
                    "message": "A feature with key 'api_calls' already exists.",
                    "details": FEATURE_EXAMPLE,
                },
                response_only=True,
                status_codes=["409"],
            ),
        ],
    )
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            feature = feature_create(**serializer.validated_data)
        except FeatureExists as exc:
            raise Conflict(exc.message, code=exc.code, details=FeatureSerializer(exc.feature).data) from None
        return Response(FeatureSerializer(feature).data, status=status.HTTP_201_CREATED)


class FeatureDetailApi(APIView):
    def get_permissions(self):
        if self.request.method == "DELETE":
            return [IsStaffOrInternal()]
        return super().get_permissions()

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "include_archived",
                OpenApiTypes.BOOL,
                description="Default false: an archived (deleted) feature answers 404, as after any DELETE",
            )
        ],
        responses=FeatureSerializer,
        summary="One feature",
        operation_id="api_v1_features_get",
    )
    def get(self, request, key: str):
        feature = feature_get(key=key)
        include_archived = parse_bool_param(request.query_params, "include_archived")
        if feature is None or (feature.archived_at is not None and not include_archived):
            raise NotFound(f"There is no feature {key!r}.", code="feature_not_found")
        return Response(FeatureSerializer(feature).data)

    @extend_schema(
        responses={204: None},
        summary="Archive a feature (its grants stay; archiving again changes nothing)",
    )
    def delete(self, request, key: str):
        feature_archive(key=key)
        return Response(status=status.HTTP_204_NO_CONTENT)
