"""Exporter sources: the rows a run pulls, kept in step with the environment, and their tokens."""

from django.conf import settings
from django.utils import timezone

from core.crypto import decrypt_text, encrypt_text
from core.services_tx import service, writes_nothing
from traffic import config
from traffic.client import Source
from traffic.models import ExporterSource


@service
def exporter_sources_sync() -> None:
    """Create the sources declared in the environment; refresh those still managed by it."""
    for declared in config.configured_sources():
        wanted = {
            "base_url": declared.base_url,
            "expected_node_id": declared.expected_node_id,
            "expected_env": declared.expected_env,
            "enabled": declared.enabled,
            "timeout_seconds": declared.timeout_seconds,
            "region": declared.region,
            "line": declared.line,
        }
        row = ExporterSource.objects.filter(source_id=declared.source_id).first()
        if row is None:
            ExporterSource.objects.create(source_id=declared.source_id, managed_by_settings=True, **wanted)
        elif row.managed_by_settings and any(getattr(row, k) != v for k, v in wanted.items()):
            ExporterSource.objects.filter(pk=row.pk).update(**wanted, updated_at=timezone.now())


@writes_nothing
def exporter_source_set_token(*, source: ExporterSource, token: str | None) -> None:
    """Set a per-source Bearer token, encrypted, on the unsaved row (the admin saves it); None or
    "" falls back to INTERNAL_SERVICE_TOKEN."""
    source.token_encrypted = encrypt_text(token) if token else ""


@writes_nothing
def source_runtime(row: ExporterSource) -> Source:
    token = decrypt_text(row.token_encrypted) if row.token_encrypted else settings.INTERNAL_SERVICE_TOKEN
    return Source(
        source_id=row.source_id,
        base_url=row.base_url.rstrip("/"),
        token=token or "",
        expected_node_id=row.expected_node_id.strip(),
        expected_env=row.expected_env.strip(),
        timeout_seconds=row.timeout_seconds,
        region=row.region.strip() or config.default_region(),
        line=row.line.strip(),
    )
