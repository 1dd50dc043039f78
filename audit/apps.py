from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = "Audit trail"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from audit.services import audit_record
        from core.hooks import on_change_recorded

        on_change_recorded(audit_record)  # core's API-key services are audited (core.hooks)
