"""Responder ports grouped by what the service is for: the ``port_class`` feature.

Classes, not port numbers: a model should learn "web" or "remote administration", not that 443
is numerically close to 445. The groups follow IANA's service names registry.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

WEB, DNS, MAIL, REMOTE_ADMIN, FILES_DB, INFRA, OTHER_WELL_KNOWN, REGISTERED, DYNAMIC = range(9)

CLASS_NAMES = (
    "web",
    "dns",
    "mail",
    "remote administration",
    "file sharing or database",
    "infrastructure (time, management, logging)",
    "other well-known",
    "registered",
    "dynamic",
)

_GROUPS: dict[int, tuple[int, ...]] = {
    WEB: (80, 443, 8000, 8080, 8443),
    DNS: (53, 853, 5353),
    MAIL: (25, 110, 143, 465, 587, 993, 995),
    REMOTE_ADMIN: (22, 23, 3389, 5900, 5985, 5986),
    FILES_DB: (20, 21, 137, 138, 139, 445, 1433, 1521, 2049, 3306, 5432, 6379, 27017),
    INFRA: (67, 68, 123, 161, 162, 389, 514, 636, 88, 464),
}


def _table() -> npt.NDArray[np.float64]:
    table = np.full(65536, REGISTERED, dtype=np.float64)
    table[:1024] = OTHER_WELL_KNOWN
    table[49152:] = DYNAMIC
    for cls, ports in _GROUPS.items():
        table[list(ports)] = cls
    return table


PORT_CLASS = _table()


def port_classes(ports: npt.NDArray[np.uint16]) -> npt.NDArray[np.float64]:
    return PORT_CLASS[ports]
