from usage.services.cost_centers import (
    cost_center_block,
    cost_center_block_in_callers_transaction,
    cost_center_close_cycle,
    cost_center_close_cycle_in_callers_transaction,
    cost_center_get_or_create,
    cost_center_set,
    cost_center_set_in_callers_transaction,
    cost_center_set_team_budget,
    cost_center_set_team_budget_in_callers_transaction,
    cost_center_start_cycle,
    cost_center_start_cycle_in_callers_transaction,
    cost_center_unblock,
    cost_center_unblock_in_callers_transaction,
    cost_centers_create_missing,
)
from usage.services.events import meter_events_ingest
from usage.services.ledger import (
    credit_note_add,
    ledger_entry_write_once,
    ledger_entry_write_once_in_callers_transaction,
)
from usage.services.rating import meter_rollups_rate, usage_rate
from usage.services.workspaces import workspace_instance_report, workspace_instances_rate

__all__ = [
    "cost_center_block",
    "cost_center_block_in_callers_transaction",
    "cost_center_close_cycle",
    "cost_center_close_cycle_in_callers_transaction",
    "cost_center_get_or_create",
    "cost_center_set",
    "cost_center_set_in_callers_transaction",
    "cost_center_set_team_budget",
    "cost_center_set_team_budget_in_callers_transaction",
    "cost_center_start_cycle",
    "cost_center_start_cycle_in_callers_transaction",
    "cost_center_unblock",
    "cost_center_unblock_in_callers_transaction",
    "cost_centers_create_missing",
    "credit_note_add",
    "ledger_entry_write_once",
    "ledger_entry_write_once_in_callers_transaction",
    "meter_events_ingest",
    "meter_rollups_rate",
    "usage_rate",
    "workspace_instance_report",
    "workspace_instances_rate",
]
