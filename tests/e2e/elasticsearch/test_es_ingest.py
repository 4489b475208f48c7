"""The Elasticsearch store's ingest and index management against a real server: the dead-letter
file, protocol records, templates installed once and upgraded, retention, settings."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from elasticsearch import Elasticsearch
from esserver import client_options, es_store, refresh_all, settings_for

from alerts.stores import ElasticsearchAlertStore, FlowQuery
from alerts.stores import elasticsearch_indices as indices
from alerts.stores import elasticsearch_mappings as mappings
from alerts.stores.elasticsearch_settings import ElasticsearchStoreSettings, build_client
from api.composition import build_store
from api.settings import Settings
from cityshield.clock import FixedClock
from cityshield.errors import ConfigError, StoreError

pytestmark = pytest.mark.e2e
FlowFactory = Callable[..., dict[str, Any]]


def test_a_malformed_document_is_dead_lettered_with_its_reason_and_the_rest_go_in(
    es_url: str, tmp_path: Path, make_flow: FlowFactory
) -> None:
    flows = [make_flow(f"ok-{i}", sport=1000 + i) for i in range(100)]
    bad_ip = make_flow("bad-ip", src="not-an-address")
    no_event = {"@timestamp": "2024-05-01T10:00:00Z", "source": {"ip": "10.0.0.1"}}
    with es_store(es_url, tmp_path) as store:
        assert store.add_flows([*flows[:50], bad_ip, no_event, *flows[50:]]) == 102
        assert store.stats()["flows"] == 100
        assert store.stats()["dead_lettered"] == 2
        lines = [
            json.loads(line)
            for line in (tmp_path / "dead-letter.jsonl").read_text().split("\n")
            if line
        ]
    by_id = {line["id"]: line for line in lines}
    assert by_id["bad-ip"]["status"] == 400
    assert "not-an-address" in by_id["bad-ip"]["reason"]
    assert by_id["bad-ip"]["document"]["source"]["ip"] == "not-an-address"
    assert by_id[None]["reason"].startswith("document #51 of the batch is not a flows document")
    assert by_id[None]["document"] == no_event


def test_records_keep_hostile_values_instead_of_losing_the_record(
    es_url: str, tmp_path: Path
) -> None:
    dns = {
        "@timestamp": "2024-05-01T10:00:00.000000Z",
        "event": {"id": "dns-1", "dataset": "cityshield.dns"},
        "dns": {"question": {"name": "example.org"}, "resolved_ip": ["not-an-ip"]},
        "source": {"ip": "10.0.0.1", "port": "not-a-port"},
    }
    with es_store(es_url, tmp_path) as store:
        assert store.add_records("dns", [dns, dns]) == 2
        assert store.stats()["records"] == 1
        assert store.stats()["dead_lettered"] == 0


def _template(es_url: str, name: str) -> dict[str, Any]:
    with Elasticsearch(es_url, **client_options()) as es:
        found = es.indices.get_index_template(name=name)
    body: dict[str, Any] = found["index_templates"][0]["index_template"]
    return body


def test_templates_are_installed_once_and_upgraded_in_place(
    es_url: str, tmp_path: Path, make_flow: FlowFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_for(es_url, tmp_path)
    prefix = settings.index_prefix
    client = build_client(settings, **client_options())
    # Within the flows' retention, so that no start prunes the index this test looks at.
    clock = FixedClock(datetime(2024, 5, 2, tzinfo=UTC))
    with es_store(es_url, tmp_path, clock, index_prefix=prefix) as store:
        store.add_flows([make_flow("f1")])
        installed = _template(es_url, f"{prefix}-flows")
        assert installed["version"] == mappings.MAPPING_VERSION
        assert installed["_meta"] == {"cityshield_mapping_version": mappings.MAPPING_VERSION}
        assert store.stats()["mapping_version"] == mappings.MAPPING_VERSION
        # A second start finds the templates current and leaves them alone.
        puts: list[str] = []
        real_put = client.indices.put_index_template
        monkeypatch.setattr(
            client.indices,
            "put_index_template",
            lambda **kw: puts.append(kw["name"]) or real_put(**kw),
        )
        ElasticsearchAlertStore(client, settings, clock)
        assert puts == []
        # A newer CityShield with one more field: templates and existing indices get it.
        monkeypatch.setattr(indices, "MAPPING_VERSION", mappings.MAPPING_VERSION + 1)
        monkeypatch.setitem(mappings.FLOW_PROPERTIES, "zone", mappings.K)
        upgraded = ElasticsearchAlertStore(client, settings, clock)
        assert f"{prefix}-flows" in puts
        with Elasticsearch(es_url, **client_options()) as es:
            mapping = es.indices.get_mapping(index=f"{prefix}-flows-*")
        (index_mapping,) = mapping.body.values()
        assert index_mapping["mappings"]["properties"]["zone"]["type"] == "keyword"
        upgraded.close()


def test_indices_past_their_retention_are_deleted_at_start(
    es_url: str, tmp_path: Path, make_flow: FlowFactory
) -> None:
    old = datetime(2024, 1, 1, 12, tzinfo=UTC)
    recent = datetime(2024, 5, 1, 12, tzinfo=UTC)
    with es_store(es_url, tmp_path, flows_retention_days=30) as store:
        store.add_flows([make_flow("old", at=old), make_flow("new", at=recent)])
        assert {f["event"]["id"] for f in store.query_flows(FlowQuery())} == {"old", "new"}
        settings = settings_for(es_url, tmp_path, index_prefix=store.index_prefix)
        clock = FixedClock(recent + timedelta(days=2))
        client = build_client(settings, **client_options())
        with ElasticsearchAlertStore(client, settings, clock) as reopened:
            refresh_all(es_url, store.index_prefix)
            assert [f["event"]["id"] for f in reopened.query_flows(FlowQuery())] == ["new"]


def test_settings_choose_the_store_and_refuse_mixed_auth(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CITYSHIELD_STORE__KIND", "elasticsearch")
    monkeypatch.setenv("CITYSHIELD_STORE__ELASTICSEARCH__HOSTS", '["http://127.0.0.1:9"]')
    monkeypatch.setenv("CITYSHIELD_STORE__ELASTICSEARCH__SPOOL_DIR", str(tmp_path / "spool"))
    monkeypatch.setenv("CITYSHIELD_STORE__ELASTICSEARCH__REQUEST_TIMEOUT", "0.5")
    monkeypatch.setenv("CITYSHIELD_STORE__ELASTICSEARCH__MAX_RETRIES", "0")
    # Nothing listens on port 9: the store starts anyway and would spool its writes.
    with build_store(Settings()) as store:
        assert isinstance(store, ElasticsearchAlertStore)
        assert store.spooled() == 0
    with pytest.raises(ValueError, match="not both"):
        ElasticsearchStoreSettings(api_key="k", username="u", password="p")
    with pytest.raises(ValueError, match="not an http"):
        ElasticsearchStoreSettings(hosts=["es.local:9200"])
    with pytest.raises(ConfigError, match="CA certificate"):
        build_client(ElasticsearchStoreSettings(ca_certs=tmp_path / "missing.pem"))


class _Refusing(BaseHTTPRequestHandler):
    """A cluster that refuses the credentials, as Elasticsearch's security layer does."""

    def _refuse(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        body = json.dumps(
            {"error": {"type": "security_exception", "reason": "unable to authenticate"}}
        ).encode()
        self.send_response(401)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_PUT = do_POST = do_HEAD = _refuse

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_refused_credentials_are_an_error_not_an_outage(tmp_path: Path) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Refusing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        settings = settings_for(f"http://127.0.0.1:{server.server_address[1]}", tmp_path)
        with pytest.raises(StoreError, match=r"cannot install the index templates.*401"):
            ElasticsearchAlertStore(build_client(settings, **client_options()), settings)
        assert not (tmp_path / "spool").exists() or not list((tmp_path / "spool").iterdir())
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
