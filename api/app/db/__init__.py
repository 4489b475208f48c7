"""The service database: users, tokens, sensors, cases, suppressions and the audit log (SQLite).

Alerts and flows are not here: they live in the ``AlertStore``. This database holds what the
service itself decides (who may do what, what analysts wrote), with versioned migrations.
"""

from api.app.db.database import ServiceDatabase, from_micros, micros

__all__ = ["ServiceDatabase", "from_micros", "micros"]
