from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from core.access import visible_attribution_ids
from core.auth import is_internal


class MeApi(APIView):
    """Who the credential belongs to, and which attributions it reaches."""

    class OutputSerializer(serializers.Serializer):
        kind = serializers.ChoiceField(choices=["internal", "api_key", "user"])
        is_staff = serializers.BooleanField()
        attribution_ids = serializers.ListField(child=serializers.CharField(), allow_null=True)

    @extend_schema(responses=OutputSerializer, summary="The caller's identity")
    def get(self, request):
        user = request.user
        if is_internal(user):
            kind = "internal"
        elif getattr(user, "attribution_id", None):
            kind = "api_key"
        else:
            kind = "user"
        visible = visible_attribution_ids(user)
        data = {
            "kind": kind,
            "is_staff": bool(user.is_staff),
            "attribution_ids": sorted(visible) if visible is not None else None,
        }
        return Response(self.OutputSerializer(data).data)
