from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Core"

    def ready(self) -> None:
        from core import (
            logs,  # noqa: F401 - connects the Celery signals that set the request id
            schema,  # noqa: F401 - registers the OpenAPI authentication extensions
        )
        from core.throttling import check_rate_settings

        check_rate_settings()
