from usage.models.ledger import CostCenter, CostCenterVersion, UsageEntry
from usage.models.meters import Meter, MeterEvent, MeterRate, MeterRollup
from usage.models.workspaces import WorkspaceClass, WorkspaceInstance

__all__ = [
    "CostCenter",
    "CostCenterVersion",
    "Meter",
    "MeterEvent",
    "MeterRate",
    "MeterRollup",
    "UsageEntry",
    "WorkspaceClass",
    "WorkspaceInstance",
]
