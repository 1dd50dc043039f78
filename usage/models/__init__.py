from usage.models.ledger import CostCenter, CostCenterVersion, UsageEntry
from usage.models.meters import Meter, MeterEvent, MeterRate, MeterRollup
from usage.models.traffic import (
    ExporterSource,
    TrafficAccount,
    TrafficCounterState,
    TrafficMinute,
    TrafficQuotaState,
    TrafficSourceState,
)
from usage.models.workspaces import WorkspaceClass, WorkspaceInstance

__all__ = [
    "CostCenter",
    "CostCenterVersion",
    "ExporterSource",
    "Meter",
    "MeterEvent",
    "MeterRate",
    "MeterRollup",
    "TrafficAccount",
    "TrafficCounterState",
    "TrafficMinute",
    "TrafficQuotaState",
    "TrafficSourceState",
    "UsageEntry",
    "WorkspaceClass",
    "WorkspaceInstance",
]
