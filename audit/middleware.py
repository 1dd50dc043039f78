"""Names the actor of every HTTP request for the audit trail (see core.context)."""

from core.context import (
    SOURCE_ADMIN,
    SOURCE_API,
    SOURCE_WEB,
    SOURCE_WEBHOOK,
    acting_as,
    actor_for_principal,
)
from core.middleware import is_api_path


def source_for_path(path: str) -> str:
    if path.startswith("/admin/"):
        return SOURCE_ADMIN
    if path.startswith("/stripe/"):
        return SOURCE_WEBHOOK
    if is_api_path(path):
        return SOURCE_API
    return SOURCE_WEB


class AuditActorMiddleware:
    """Sets a lazy actor for the request: resolved from `request.user` when the first audit
    event is written, i.e. after DRF has authenticated (DRF's Request sets the principal on
    the underlying HttpRequest too) or, for the admin and pages, the signed-in session user.
    Goes after AuthenticationMiddleware."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        source = source_for_path(request.path)
        with acting_as(lambda: actor_for_principal(getattr(request, "user", None), source=source)):
            return self.get_response(request)
