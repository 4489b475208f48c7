"""Bidirectional flows: the bounded, vectorised flow table and the ended flows it reports.

* ``FlowTable.update(decoded, batch)`` folds packets into flows and returns those that ended;
  ``flush()`` ends the rest at the end of a capture.
* ``FlowBatch`` holds ended flows as columns, with Zeek-style conn_state and history, Community ID
  and deterministic flow ids.
"""

from sensors.flows.ended import EndReason, FlowBatch
from sensors.flows.settings import FlowSettings
from sensors.flows.table import FlowStats, FlowTable

__all__ = ["EndReason", "FlowBatch", "FlowSettings", "FlowStats", "FlowTable"]
