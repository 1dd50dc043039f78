"""Registering periodic jobs with django-celery-beat (used by data migrations)."""

from django.utils import timezone


def register_interval_task(apps, *, name: str, task: str, every: int, period: str = "minutes") -> None:
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    schedule, _ = IntervalSchedule.objects.get_or_create(every=every, period=period)
    PeriodicTask.objects.get_or_create(
        name=name, defaults={"task": task, "interval": schedule, "enabled": True}
    )


def unregister_task(apps, *, name: str) -> None:
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=name).delete()


def rename_task(apps, *, old: str, new: str, job_runs: bool = True) -> None:
    """Rename a job's beat schedule in place: its PeriodicTask keeps its id, interval, enabled
    flag and run counts (and whatever finance edited), only `name` and `task` change. Rows that
    point at `old` under another name point at `new` afterwards. With `job_runs`, past JobRuns
    take the new name too, so a job's history stays under one name."""
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(task=old).update(task=new)
    if not PeriodicTask.objects.filter(name=new).exists():
        PeriodicTask.objects.filter(name=old).update(name=new)
    if job_runs:
        apps.get_model("core", "JobRun").objects.filter(job=old).update(job=new)
    # A queryset update sends no signal: tell a running beat (DatabaseScheduler) to reload.
    apps.get_model("django_celery_beat", "PeriodicTasks").objects.update_or_create(
        ident=1, defaults={"last_update": timezone.now()}
    )
