"""The example configs shipped in deploy/ stay valid."""

from pathlib import Path

import pytest

from schemas.config_loader import load_config

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "deploy" / "examples").glob("*.yaml"))
ENVIRON = {"LLMUX_MASTER_KEY": "m", "LLMUX_HASH_SECRET": "h", "OPENAI_API_KEY": "o",
           "ANTHROPIC_API_KEY": "a"}


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_config_is_valid(path: Path) -> None:
    config = load_config(path, ENVIRON)
    assert config.providers


def test_there_are_examples() -> None:
    assert {p.name for p in EXAMPLES} >= {"standalone.yaml", "distributed.yaml"}
