"""The YAML contract: variable expansion, defaults, and errors that name the key path."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from schemas.config import duration_seconds
from schemas.config_loader import ConfigError, default_config, load_config, parse_config

ORIGINAL_README_CONFIG = """
server:
  port: 8080
  admin_port: 0
  read_timeout: 30s
  write_timeout: 120s

deployment:
  mode: standalone  # standalone, distributed, development

providers:
  - name: openai
    type: openai
    api_key: ${OPENAI_API_KEY}
    base_url: https://api.openai.com/v1
    models:
      - gpt-4o
      - gpt-4o-mini

routing:
  strategy: simple-shuffle
  fallback_enabled: true
  retry_count: 3
  distributed: false

metrics:
  enabled: true
  path: /metrics
"""


def test_original_gateway_config_stays_valid() -> None:
    config = parse_config(ORIGINAL_README_CONFIG, {"OPENAI_API_KEY": "sk-test"})
    assert config.providers[0].api_key == "sk-test"
    assert [m.name for m in config.providers[0].model_entries] == ["gpt-4o", "gpt-4o-mini"]
    assert config.server.read_timeout == "30s"
    assert duration_seconds(config.server.write_timeout) == 120.0


def test_design_flow_style_with_variables() -> None:
    text = "auth: {master_key: ${LLMUX_MASTER_KEY}}\nserver: {port: ${PORT:-9001}}\n"
    config = parse_config(text, {"LLMUX_MASTER_KEY": "sk-m"})
    assert config.auth.master_key == "sk-m"
    assert config.server.port == 9001


def test_prices_are_exact_decimals() -> None:
    text = """
providers:
  - name: p
    type: openai
    models: [{name: m, input_cost_per_mtok: 0.15, output_cost_per_mtok: 0.6}]
"""
    entry = parse_config(text, {}).providers[0].model_entries[0]
    assert entry.input_cost_per_mtok == Decimal("0.15")
    assert entry.output_cost_per_mtok == Decimal("0.6")


@pytest.mark.parametrize(("text", "message"), [
    ("providers:\n  - {name: a, type: opnai}\n",
     "providers[0].type: unknown provider type 'opnai'"),
    ("server: {prot: 1}\n", "server.prot: unknown key"),
    ("server: {read_timeout: 3x}\n", "server.read_timeout: expected a duration"),
    ("ledger: {http_port: 70000}\n", "ledger.http_port: expected a port number"),
    ("nats: {max_age: a week}\n", "nats.max_age: expected a duration"),
    ("projector: {http_port: -1}\n", "projector.http_port: expected a port number"),
    ("routing: {strategy: fastest}\n", "routing.strategy: invalid enum value 'fastest'"),
    ("providers:\n  - {name: a, type: openai, models: [{name: m, rpm: many}]}\n",
     "providers[0].models[0]"),
    ("auth: {master_key: ${MISSING_VAR}}\n", "auth.master_key: environment variable MISSING_VAR"),
    ("providers:\n  - {name: a, type: openai, base_url: 'ftp://x'}\n", "providers[0].base_url"),
    ("providers:\n  - {name: a, type: mock}\n  - {name: a, type: mock}\n",
     "providers[1].name: duplicate provider name 'a'"),
    ("- just\n- a list\n", "mapping at the top level"),
    ("providers:\n  - {name: a, type: mock, models: [m, {name: m}]}\n",
     "providers[0].models[1]: model 'm' is listed twice"),
    ("bus: {max_backlog: 0}\n", "bus.max_backlog: expected a positive number of events"),
    ("bus: {max_backlog: 100}\n", "bus.max_backlog: must be at least ledger.batch_size (500)"),
    ("bus: {outbox_max_events: 100}\n",
     "bus.outbox_max_events: expected at least bus.batch_size (256)"),
])
def test_errors_name_the_key_path(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(text, {})
    assert message in str(info.value)


def test_legacy_database_environment() -> None:
    config = parse_config("{}", {"DB_HOST": "db", "DB_USER": "u", "DB_PASSWORD": "p@ss",
                                 "DB_NAME": "llmux"})
    assert config.database.url == "postgresql://u:p%40ss@db:5432/llmux"


def test_default_config_is_standalone_mock() -> None:
    config = default_config({})
    assert config.deployment.mode == "standalone"
    assert {p.type for p in config.providers} == {"mock"}


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path / "missing.yaml", {})


@pytest.mark.parametrize(("value", "seconds"), [("250ms", 0.25), ("2m", 120.0), (3, 3.0),
                                                ("1.5h", 5400.0)])
def test_durations(value: str | int, seconds: float) -> None:
    assert duration_seconds(value) == seconds


def test_the_ledger_backlog_bound_defaults_on_and_can_be_lifted() -> None:
    assert parse_config("{}", {}).bus.max_backlog == 20_000
    assert parse_config("bus: {max_backlog: null}\n", {}).bus.max_backlog is None
