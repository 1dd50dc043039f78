from django.contrib.auth import get_user_model
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from billing.models import Team
from billing.services import team_create, team_register
from billing.services.cycles import cycles_close
from billing.services.reporting import invoices_reconcile
from core.access import ensure_can_read, visible_attribution_ids
from core.api import JOB_RESPONSES, run_job_now
from core.attribution import parse_attribution_id
from core.auth import IsStaffOrInternal
from core.errors import NotFound, ValidationFailed
from core.jobs import BILLING_CLOSE_CYCLES, BILLING_RECONCILE_INVOICES
from core.pagination import PagePagination, paginated_response
from core.serializers import StrictInputSerializer


class TeamOutputSerializer(serializers.ModelSerializer):
    attribution_id = serializers.CharField(read_only=True)

    class Meta:
        model = Team
        fields = ["uuid", "name", "slug", "attribution_id", "created_at"]


class TeamListCreateApi(APIView):
    pagination_class = PagePagination  # GET answers {"results", "pagination"} (and the schema says so)

    class InputSerializer(StrictInputSerializer):
        name = serializers.CharField(max_length=200)
        slug = serializers.SlugField(max_length=100, required=False)
        owner_username = serializers.CharField(required=False)
        attribution_id = serializers.CharField(
            max_length=64,
            required=False,
            help_text="Register the payer `team:<uuid>` another system already uses (its usage may "
            "have arrived first). Repeating the call with the same name answers 200.",
        )

    def get_permissions(self):
        if self.request.method == "POST":
            return [IsStaffOrInternal()]
        return super().get_permissions()

    @extend_schema(responses=TeamOutputSerializer(many=True), summary="Teams the caller may see")
    def get(self, request):
        visible = visible_attribution_ids(request.user)
        teams = Team.objects.order_by("name", "id")
        if visible is not None:
            uuids = [parse_attribution_id(a).uuid for a in visible if a.startswith("team:")]
            teams = teams.filter(uuid__in=uuids)
        return paginated_response(
            request=request, rows=teams, serializer_class=TeamOutputSerializer, view=self
        )

    @extend_schema(
        request=InputSerializer,
        responses={
            200: OpenApiResponse(
                TeamOutputSerializer, description="The team with this attribution_id and name already exists"
            ),
            201: TeamOutputSerializer,
            409: OpenApiResponse(
                description="The slug is taken (`slug_taken`), or the attribution_id is registered "
                "under another name or slug (`team_exists`)"
            ),
        },
        summary="Create or register a team (staff)",
        examples=[
            OpenApiExample("Acme", value={"name": "Acme", "owner_username": "alice"}),
            OpenApiExample(
                "A payer from another system",
                value={"name": "Initech", "attribution_id": "team:5b0e8c1e-3f6a-4d2b-9c7d-0a1b2c3d4e5f"},
            ),
        ],
    )
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        owner = None
        if username := serializer.validated_data.get("owner_username"):
            owner = get_user_model().objects.filter(username=username).first()
            if owner is None:
                raise ValidationFailed(f"No user named {username!r}.", code="unknown_user")
        fields = {
            "name": serializer.validated_data["name"],
            "slug": serializer.validated_data.get("slug"),
            "owner": owner,
        }
        created = True
        if attribution_id := serializer.validated_data.get("attribution_id"):
            team, created = team_register(attribution_id=attribution_id, **fields)
        else:
            team = team_create(**fields)
        return Response(
            TeamOutputSerializer(team).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )


class TeamDetailApi(APIView):
    @extend_schema(responses=TeamOutputSerializer, summary="One team by attribution id")
    def get(self, request, attribution_id: str):
        normalized = ensure_can_read(request.user, attribution_id)
        parsed = parse_attribution_id(normalized)
        team = Team.objects.filter(uuid=parsed.uuid).first() if parsed.kind == "team" else None
        if team is None:
            raise NotFound(f"No team {normalized}.")
        return Response(TeamOutputSerializer(team).data)


# POST /api/v1/jobs/reset-usage (its published path) runs billing.close_cycles: see core.jobs.
# (A comment, not a docstring: drf-spectacular would publish a docstring as the description.)
class CyclesCloseJobApi(APIView):
    permission_classes = [IsStaffOrInternal]

    @extend_schema(
        request=None, responses=JOB_RESPONSES, summary="Run the cycle-close job (billing.close_cycles) now"
    )
    def post(self, request):
        return run_job_now(request, BILLING_CLOSE_CYCLES, cycles_close)


# POST /api/v1/jobs/reconcile-invoices runs billing.reconcile_invoices: see core.jobs.
class InvoicesReconcileJobApi(APIView):
    permission_classes = [IsStaffOrInternal]

    @extend_schema(
        request=None,
        responses=JOB_RESPONSES,
        summary="Report billable credits to Stripe now (billing.reconcile_invoices)",
    )
    def post(self, request):
        return run_job_now(request, BILLING_RECONCILE_INVOICES, invoices_reconcile)
