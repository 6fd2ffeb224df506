"""Reading the YAML file: the only place that touches the environment.

``${VAR}`` and ``${VAR:-default}`` are expanded inside string values after YAML parsing, so a value
can never break the YAML structure. NOTE: before parsing, each reference is swapped for a plain
placeholder, because ``{`` inside a flow mapping (``auth: {master_key: ${KEY}}``, as DESIGN.md
writes it) is YAML syntax. The tree is then validated once against ``LLMuxConfig``.
Errors name the key path: ``providers[0].type: unknown provider type 'opnai'``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote

import msgspec
import yaml

from schemas.config import LLMuxConfig

__all__ = ["ConfigError", "default_config", "load_config", "parse_config"]

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_MSGSPEC_PATH = re.compile(r"^(?P<message>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.DOTALL)


class ConfigError(ValueError):
    """The configuration is invalid; the message names the key path and what is wrong."""


class _DecimalLoader(yaml.SafeLoader):
    """YAML loader that reads floats as ``Decimal`` so prices are exact as written."""


def _construct_decimal(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Decimal:
    return Decimal(str(loader.construct_scalar(node)).replace("_", ""))


_DecimalLoader.add_constructor("tag:yaml.org,2002:float", _construct_decimal)


def load_config(path: str | Path, environ: Mapping[str, str]) -> LLMuxConfig:
    """Load and validate the file at ``path``, expanding variables from ``environ``."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {str(path)!r}: {exc.strerror}") from None
    return parse_config(text, environ)


def parse_config(text: str, environ: Mapping[str, str]) -> LLMuxConfig:
    """Validate YAML text; see the module docstring."""
    references: list[str] = []

    def hide(match: re.Match[str]) -> str:
        references.append(match.group(0))
        return f"__llmux_var_{len(references) - 1}__"

    text = _VAR.sub(hide, text)
    try:
        tree = yaml.load(text, Loader=_DecimalLoader) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML: {exc}") from None
    if not isinstance(tree, dict):
        raise ConfigError("the config file must be a mapping at the top level")
    tree = _expand(tree, _Expansion(environ, references), "")
    _apply_legacy_environment(tree, environ)
    return _validate(tree)


def default_config(environ: Mapping[str, str]) -> LLMuxConfig:
    """The built-in standalone configuration used by ``llmux serve`` with no ``--config``."""
    tree: dict[str, Any] = {
        "deployment": {"mode": "standalone", "data_dir": environ.get("LLMUX_DATA_DIR", "./.llmux")},
        "server": {"host": "127.0.0.1", "port": int(environ.get("LLMUX_PORT", "8080"))},
        "providers": [
            {
                "name": "mock",
                "type": "mock",
                "models": ["mock-gpt", "gpt-4o-mini", "claude-3-5-haiku"],
            }
        ],
    }
    return _validate(tree)


def _validate(tree: dict[str, Any]) -> LLMuxConfig:
    try:
        return msgspec.convert(tree, LLMuxConfig, strict=False)
    except msgspec.ValidationError as exc:
        raise ConfigError(_format_validation_error(str(exc))) from None


def _format_validation_error(text: str) -> str:
    """Turn msgspec's ``msg - at `$.a[0]``` into ``a[0].field: msg``."""
    match = _MSGSPEC_PATH.match(text)
    assert match is not None  # the pattern matches any string
    message, path = match.group("message"), (match.group("path") or "").lstrip(".")
    head, sep, rest = message.partition(": ")
    if sep and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_\[\]]*", head):
        path = f"{path}.{head}" if path else head
        message = rest
    unknown = re.fullmatch(r"Object contains unknown field `(.+)`", message)
    if unknown:
        path = f"{path}.{unknown.group(1)}" if path else unknown.group(1)
        message = "unknown key"
    return f"{path or '<root>'}: {message[:1].lower()}{message[1:]}"


_PLACEHOLDER = re.compile(r"__llmux_var_(\d+)__")


class _Expansion:
    """The environment plus the ``${...}`` references hidden from the YAML parser."""

    def __init__(self, environ: Mapping[str, str], references: list[str]) -> None:
        self.environ = environ
        self.references = references


def _expand(node: Any, expansion: _Expansion, path: str) -> Any:
    if isinstance(node, str):
        return _expand_string(node, expansion, path)
    if isinstance(node, dict):
        return {
            k: _expand(v, expansion, f"{path}.{k}" if path else str(k)) for k, v in node.items()
        }
    if isinstance(node, list):
        return [_expand(v, expansion, f"{path}[{i}]") for i, v in enumerate(node)]
    return node


def _expand_string(value: str, expansion: _Expansion, path: str) -> str:
    environ = expansion.environ
    value = _PLACEHOLDER.sub(lambda m: expansion.references[int(m.group(1))], value)

    def replace(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in environ and (environ[name] != "" or default is None):
            return environ[name]
        if default is not None:
            return default
        raise ConfigError(f"{path}: environment variable {name} is not set")

    return _VAR.sub(replace, value)


def _apply_legacy_environment(tree: dict[str, Any], environ: Mapping[str, str]) -> None:
    """The original gateway's DB_* and REDIS_* variables, used only when the file sets no URL."""
    database = tree.setdefault("database", {}) or {}
    tree["database"] = database
    if not database.get("url") and environ.get("DB_HOST"):
        user = quote(environ.get("DB_USER", "postgres"), safe="")
        password = environ.get("DB_PASSWORD")
        auth = f"{user}:{quote(password, safe='')}" if password else user
        port = environ.get("DB_PORT", "5432")
        name = environ.get("DB_NAME", "llmux")
        database["url"] = f"postgresql://{auth}@{environ['DB_HOST']}:{port}/{name}"
    redis_config = tree.get("redis") or {}
    if not redis_config.get("url") and environ.get("REDIS_ADDR"):
        password = environ.get("REDIS_PASSWORD")
        auth = f":{quote(password, safe='')}@" if password else ""
        tree["redis"] = {**redis_config, "url": f"redis://{auth}{environ['REDIS_ADDR']}/0"}
