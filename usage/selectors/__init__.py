"""Reads of usage: the ledger and cost centers (`ledger`), meter facts and rates (`meters`).

Other apps read usage only through this package (credits reads meter usage here too).
"""

from usage.selectors.ledger import (
    MAX_LIST_RANGE,
    USAGE_KINDS,
    UsageList,
    cost_center_default,
    cost_center_get,
    cost_center_get_or_default,
    cost_center_versions,
    credits_used,
    default_spending_limit,
    effective_spending_limit,
    first_cycle_starts,
    unregistered_usage,
    usage_balance,
    usage_list,
)
from usage.selectors.meters import (
    datetime_from_db,
    meter_get,
    meter_rate_table,
    meter_unit_names,
    meter_units_used,
    meter_units_used_by_slug,
    meter_usage_windows,
    pending_meter_credits,
    price_units,
    sql_trunc,
)

__all__ = [
    "MAX_LIST_RANGE",
    "USAGE_KINDS",
    "UsageList",
    "cost_center_default",
    "cost_center_get",
    "cost_center_get_or_default",
    "cost_center_versions",
    "credits_used",
    "datetime_from_db",
    "default_spending_limit",
    "effective_spending_limit",
    "first_cycle_starts",
    "meter_get",
    "meter_rate_table",
    "meter_unit_names",
    "meter_units_used",
    "meter_units_used_by_slug",
    "meter_usage_windows",
    "pending_meter_credits",
    "price_units",
    "sql_trunc",
    "unregistered_usage",
    "usage_balance",
    "usage_list",
]
