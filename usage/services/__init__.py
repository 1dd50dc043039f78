from usage.services.cost_centers import (
    cost_center_block,
    cost_center_close_cycle,
    cost_center_get_or_create,
    cost_center_set,
    cost_center_start_cycle,
    cost_center_unblock,
)
from usage.services.events import meter_events_ingest
from usage.services.ledger import credit_note_add, ledger_entry_write_once
from usage.services.rating import meter_rollups_rate, usage_rate
from usage.services.workspaces import workspace_instance_report, workspace_instances_rate

__all__ = [
    "cost_center_block",
    "cost_center_close_cycle",
    "cost_center_get_or_create",
    "cost_center_set",
    "cost_center_start_cycle",
    "cost_center_unblock",
    "credit_note_add",
    "ledger_entry_write_once",
    "meter_events_ingest",
    "meter_rollups_rate",
    "usage_rate",
    "workspace_instance_report",
    "workspace_instances_rate",
]
