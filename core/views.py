import hmac

from django.conf import settings
from django.http import HttpResponse
from prometheus_client import CONTENT_TYPE_LATEST

from core.errors import json_error
from core.metrics import render_latest

LOOPBACK = ("127.0.0.1", "::1")


def metrics_view(request):
    """Prometheus metrics: the internal token, or any caller on loopback."""
    header = request.headers.get("Authorization", "")
    token = header[7:].strip() if header.lower().startswith("bearer ") else ""
    expected = settings.INTERNAL_SERVICE_TOKEN
    token_ok = bool(expected and token and hmac.compare_digest(token.encode(), expected.encode()))
    if not token_ok and request.META.get("REMOTE_ADDR") not in LOOPBACK:
        return json_error(401, "not_authenticated", "Metrics need the internal token or a loopback caller.")
    return HttpResponse(render_latest(), content_type=CONTENT_TYPE_LATEST)
