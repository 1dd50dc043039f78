"""API authentication: the internal service token and per-attribution API keys (Bearer)."""

import hmac
from dataclasses import dataclass

from django.conf import settings
from rest_framework import authentication, exceptions, permissions

from core.models import APIKey, hash_api_key
from core.services import api_key_touch


@dataclass(frozen=True)
class ServicePrincipal:
    """The staff's machine credential: may call every endpoint."""

    is_authenticated = True
    is_anonymous = False
    is_staff = True
    is_internal = True
    attribution_id = None
    pk = None

    def __str__(self) -> str:
        return "internal-service"


@dataclass(frozen=True)
class ApiKeyPrincipal:
    """A team's API key: reaches only its own attribution."""

    api_key: APIKey

    is_authenticated = True
    is_anonymous = False
    is_staff = False
    is_internal = False
    pk = None

    @property
    def attribution_id(self) -> str:
        return self.api_key.attribution_id

    def __str__(self) -> str:
        return f"api-key:{self.api_key.prefix}"


def _bearer(request) -> str | None:
    header = authentication.get_authorization_header(request).decode("latin-1")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    token = token.strip()
    if not token:
        raise exceptions.AuthenticationFailed("The Authorization header has no token after Bearer.")
    return token


class InternalTokenAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        token = _bearer(request)
        if token is None or token.startswith("tally_"):
            return None
        expected = settings.INTERNAL_SERVICE_TOKEN
        if expected and hmac.compare_digest(token.encode(), expected.encode()):
            return ServicePrincipal(), token
        raise exceptions.AuthenticationFailed("The bearer token is not valid.")

    def authenticate_header(self, request):
        return 'Bearer realm="api"'


class ApiKeyAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        token = _bearer(request)
        if token is None or not token.startswith("tally_"):
            return None
        api_key = APIKey.objects.filter(key_hash=hash_api_key(token)).first()
        if api_key is None:
            raise exceptions.AuthenticationFailed("The API key is not valid.")
        if api_key.revoked_at is not None:
            raise exceptions.AuthenticationFailed("The API key has been revoked.")
        api_key_touch(api_key=api_key)
        return ApiKeyPrincipal(api_key=api_key), api_key

    def authenticate_header(self, request):
        return 'Bearer realm="api"'


def is_internal(user) -> bool:
    return bool(getattr(user, "is_internal", False))


def is_staff_or_internal(user) -> bool:
    return is_internal(user) or bool(
        getattr(user, "is_authenticated", False) and getattr(user, "is_staff", False)
    )


class IsInternal(permissions.BasePermission):
    message = "Only the internal service token may call this endpoint."

    def has_permission(self, request, view):
        return is_internal(request.user)


class IsStaffOrInternal(permissions.BasePermission):
    message = "Only finance staff or the internal service may call this endpoint."

    def has_permission(self, request, view):
        return is_staff_or_internal(request.user)
