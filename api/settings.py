"""The assembled settings: every package's section, built once by the composition root.

Sources, weakest first: defaults, an optional TOML file (``--config``, or ``CITYSHIELD_CONFIG``),
then ``CITYSHIELD_*`` environment variables (``CITYSHIELD_SENSOR__NAME=tap-1``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field

from alerts.aggregation import AggregationSettings
from alerts.stores.elasticsearch_settings import ElasticsearchStoreSettings
from alerts.stores.sqlite import SqliteStoreSettings
from api.app.config import ApiSettings
from cityshield.settings import RootSettings, Section, load_settings
from detectors.yara.config import YaraConfig
from pki.settings import PkiSettings
from response.settings import ResponseSettings
from sensors.agent.settings import AgentSettings
from sensors.engine import SensorSettings

#: Where the repository's content folders are (an editable install or a source checkout).
REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_RULES_DIR = REPO_ROOT / "rules"


class StoreSettings(Section):
    kind: Literal["sqlite", "elasticsearch"] = "sqlite"
    sqlite: SqliteStoreSettings = SqliteStoreSettings()
    elasticsearch: ElasticsearchStoreSettings = ElasticsearchStoreSettings()


class DetectorSettings(Section):
    #: Folder with ``heuristics.toml`` (and, later, YARA rule packs). Default: the repository's.
    rules_dir: Path | None = None
    #: Detector ids to leave out, whatever the rules say.
    disabled: list[str] = Field(default_factory=list)
    #: The YARA detector: engine, rule folders (default: <rules_dir>/yara), budgets.
    yara: YaraConfig = YaraConfig()


class ModelSettings(Section):
    """Anomaly models (``cityshield train``): where they are kept, and the one ``analyze`` uses
    when no ``--model`` is given (None: no anomaly detection)."""

    folder: Path = Path("models")
    default: str | None = None


class Settings(RootSettings):
    sensor: SensorSettings = SensorSettings()
    store: StoreSettings = StoreSettings()
    detectors: DetectorSettings = DetectorSettings()
    aggregation: AggregationSettings = AggregationSettings()
    api: ApiSettings = ApiSettings()
    models: ModelSettings = ModelSettings()
    pki: PkiSettings = PkiSettings()
    #: Live sensors: capture, shipping to the central service, the packet ring.
    agent: AgentSettings = AgentSettings()
    #: Playbooks, the run database, and what response actions may touch.
    response: ResponseSettings = ResponseSettings()
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "WARNING"


def settings_from(config: Path | None = None) -> Settings:
    """Build the settings once: ``config`` or ``$CITYSHIELD_CONFIG``, then the environment."""
    if config is None and os.environ.get("CITYSHIELD_CONFIG"):
        config = Path(os.environ["CITYSHIELD_CONFIG"])
    return load_settings(Settings, config)
