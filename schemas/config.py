"""The whole YAML configuration contract, declared once as frozen typed records.

Every default lives here as a field default. ``load_config`` (in ``schemas.config_loader``) is the
only reader of files and environment; everything else receives the slice of config it needs.
Keys, budgets and limits that admins change at run time are not config: they arrive as admin events.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Literal

import msgspec

from schemas.presets import NATIVE_PROVIDER_TYPES, OPENAI_COMPATIBLE_PRESETS

__all__ = [
    "AdmissionConfig",
    "AuthConfig",
    "BusConfig",
    "DatabaseConfig",
    "DeploymentConfig",
    "LLMuxConfig",
    "LedgerConfig",
    "LoggingConfig",
    "MetricsConfig",
    "MockOptions",
    "ModelEntry",
    "NatsConfig",
    "ProviderConfig",
    "RedisConfig",
    "RoutingConfig",
    "ServerConfig",
    "TracingConfig",
    "duration_seconds",
]

Duration = str | int | float
"""A duration: seconds as a number, or a string such as ``250ms``, ``30s``, ``2m``, ``1h``."""

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


def duration_seconds(value: Duration) -> float:
    """Seconds in a duration value; raises ``ValueError`` for anything else."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration such as '30s', got {value!r}")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"expected a non-negative duration, got {value!r}")
        return float(value)
    match = _DURATION.match(value)
    if match is None:
        raise ValueError(f"expected a duration such as '30s' or '250ms', got {value!r}")
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def _check_durations(record: msgspec.Struct, *names: str) -> None:
    for name in names:
        try:
            duration_seconds(getattr(record, name))
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}") from None


class _Record(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Base of config records: immutable, and a misspelt key is an error, not a silent default."""


class ServerConfig(_Record, frozen=True):
    host: str = "0.0.0.0"
    port: int = 8080
    admin_port: int = 0
    """Serve the management API on its own port when non-zero, else on ``port`` (admin auth)."""
    read_timeout: Duration = "30s"
    """How long a client gets to send a whole request, headers and body, from its first byte;
    later it gets a 408 and its connection is closed. ``0`` turns the deadline off."""
    write_timeout: Duration = "120s"
    """Accepted from the original gateway's files, not enforced: a cap on a whole response would
    cut long streams. Upstream calls are bounded by each provider's ``timeout`` and
    ``stream_stall_timeout``."""
    max_body_bytes: int = 8 * 1024 * 1024
    """Request bodies larger than this get a 413 before they are read."""
    trusted_proxies: list[str] = []
    """Addresses (or ``*``) of the reverse proxies whose ``X-Forwarded-For`` / ``-Proto`` give
    the client's address (recorded in admin events). Empty: the peer's address is the client's,
    and forwarding headers are ignored (and never parsed)."""
    shutdown_timeout: Duration = "20s"
    """After SIGTERM, how long requests in flight (long streams too) get to finish before they are
    cut. A cut stream is settled and recorded with the usage it had; the default leaves a
    Kubernetes pod's 30-s grace period 10 s to drain its events."""

    heap_trim_interval: Duration = "30s"
    """How often the gateway (and ``llmux ledger`` and ``llmux projector``) hands the memory
    malloc holds free back to the kernel (glibc only; ``0`` never): without it RSS keeps the
    largest heap a burst of traffic ever needed."""

    def __post_init__(self) -> None:
        _check_durations(self, "read_timeout", "write_timeout", "shutdown_timeout",
                         "heap_trim_interval")
        for name in ("port", "admin_port"):
            if not 0 <= getattr(self, name) <= 65535:
                raise ValueError(f"{name}: expected a port number from 0 to 65535")
        if self.max_body_bytes <= 0:
            raise ValueError("max_body_bytes: expected a positive number of bytes")


class DeploymentConfig(_Record, frozen=True):
    mode: Literal["standalone", "distributed", "development"] = "standalone"
    data_dir: str = "./.llmux"
    """Where standalone mode keeps its event store, projections and the outbox spill file."""


class MockOptions(_Record, frozen=True):
    """Knobs of the in-process ``mock`` provider (no network)."""

    latency: Duration = "0s"
    """Time before the reply (or before the first stream chunk)."""
    stream_chunks: int = 8
    """How many content chunks a streamed reply has."""
    chunk_interval: Duration = "0s"
    """Pause between streamed chunks."""

    def __post_init__(self) -> None:
        _check_durations(self, "latency", "chunk_interval")
        if self.stream_chunks < 1:
            raise ValueError("stream_chunks: expected at least 1")


class ModelEntry(_Record, frozen=True):
    """One model a provider serves: a deployment of ``name`` on that provider."""

    name: str
    upstream_model: str | None = None
    """The model name sent upstream, when it differs from the public ``name``."""
    weight: int | None = None
    rpm: int | None = None
    tpm: int | None = None
    max_parallel: int | None = None
    input_cost_per_mtok: Decimal | None = None
    """Price override in USD per million prompt tokens."""
    output_cost_per_mtok: Decimal | None = None
    cached_input_cost_per_mtok: Decimal | None = None
    tags: list[str] = []
    order: int | None = None
    """Priority: a lower order is used while any of its deployments is healthy."""

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("name: must not be empty")
        for field in ("weight", "rpm", "tpm", "max_parallel"):
            value = getattr(self, field)
            if value is not None and value < 0:
                raise ValueError(f"{field}: expected a non-negative integer")


class ProviderConfig(_Record, frozen=True):
    name: str
    type: str
    """``openai``, ``azure``, ``anthropic``, ``gemini``, ``mock`` or an OpenAI-compatible preset."""
    api_key: str | None = None
    base_url: str | None = None
    api_version: str | None = None
    """Azure's ``api-version`` query parameter."""
    models: list[str | ModelEntry] = []
    timeout: Duration = "120s"
    """Whole-call timeout for a non-streaming upstream request."""
    stream_stall_timeout: Duration = "60s"
    """Longest silence allowed between two chunks of a stream."""
    connect_timeout: Duration = "5s"
    headers: dict[str, str] = {}
    """Extra headers sent upstream on every call."""
    mock: MockOptions = MockOptions()

    def __post_init__(self) -> None:
        known = NATIVE_PROVIDER_TYPES | OPENAI_COMPATIBLE_PRESETS.keys()
        if self.type not in known:
            raise ValueError(f"type: unknown provider type {self.type!r}")
        if not self.name:
            raise ValueError("name: must not be empty")
        if self.base_url is not None and not re.match(r"^https?://[^\s/]+", self.base_url):
            raise ValueError("base_url: expected an http:// or https:// URL")
        if self.type == "azure" and not self.base_url:
            raise ValueError("base_url: azure needs the resource URL (https://NAME.openai.azure.com)")
        _check_durations(self, "timeout", "stream_stall_timeout", "connect_timeout")
        names = [m if isinstance(m, str) else m.name for m in self.models]
        for index, name in enumerate(names):
            if name in names[:index]:
                # NOTE: a deployment's id is provider/name; two with one id would share stats.
                raise ValueError(f"models[{index}]: model {name!r} is listed twice; give the "
                                 "second its own provider entry")

    @property
    def model_entries(self) -> list[ModelEntry]:
        """``models`` with bare strings expanded to entries."""
        return [ModelEntry(name=m) if isinstance(m, str) else m for m in self.models]


RoutingStrategy = Literal[
    "simple-shuffle", "round-robin", "lowest-latency", "least-busy", "lowest-tpm-rpm", "lowest-cost"
]


class RoutingConfig(_Record, frozen=True):
    strategy: RoutingStrategy = "simple-shuffle"
    fallback_enabled: bool = True
    retry_count: int = 3
    distributed: bool = False
    fallbacks: dict[str, list[str]] = {}
    """Cross-model fallback chains: ``{gpt-4o: [claude-sonnet]}``."""
    context_window_fallbacks: dict[str, list[str]] = {}
    aliases: dict[str, str] = {}
    """Public alias → model group name."""
    retry_backoff: Duration = "100ms"
    """Base of the exponential backoff before retrying a deployment already tried in this call."""
    cooldown: Duration = "30s"
    """How long a deployment whose circuit breaker opened stays out of rotation."""
    allowed_fails: int = 3
    """Failures in ``cooldown_window`` that are still tolerated before the failure ratio counts."""
    failure_ratio: float = 0.5
    """Share of failed calls in ``cooldown_window`` (beyond ``allowed_fails``) that opens it."""
    cooldown_window: Duration = "60s"
    """The sliding window over which the breaker counts failures."""
    latency_buffer: float = 0.10
    """``lowest-latency``: how much slower than the best a deployment may be and share traffic."""

    def __post_init__(self) -> None:
        if self.retry_count < 0:
            raise ValueError("retry_count: expected a non-negative integer")
        if self.allowed_fails < 0:
            raise ValueError("allowed_fails: expected a non-negative integer")
        if not 0.0 < self.failure_ratio <= 1.0:
            raise ValueError("failure_ratio: expected a number above 0 and at most 1")
        if self.latency_buffer < 0:
            raise ValueError("latency_buffer: expected a non-negative number")
        _check_durations(self, "retry_backoff", "cooldown", "cooldown_window")
        if duration_seconds(self.cooldown_window) <= 0:
            raise ValueError("cooldown_window: expected a positive duration")


class AuthConfig(_Record, frozen=True):
    master_key: str | None = None
    """Admin credential. Standalone without one generates it (and a demo key) under data_dir."""
    hash_secret: str | None = None
    """HMAC secret for stored key hashes. Standalone generates one under ``data_dir`` if unset."""


class NatsConfig(_Record, frozen=True):
    url: str = "nats://127.0.0.1:4222"
    stream: str = "LLMUX"
    subject_prefix: str = "llmux"
    ack_wait: Duration = "30s"
    """How long a fetched, unacked message waits before redelivery (after a consumer crashed)."""
    max_age: Duration = "0s"
    """How long JetStream keeps an event (the stream's ``max_age``); ``0``: forever. Every event
    is in Postgres once the ledger has recorded it, and a starting gateway reads admin state from
    the projections before it replays the admin events still on the stream, so a bound only has
    to outlast the longest the ledger and the projector could be down: past it, events they have
    not read are gone. Applied to the stream by every process at start."""

    def __post_init__(self) -> None:
        _check_durations(self, "ack_wait", "max_age")
        if duration_seconds(self.ack_wait) < 1:
            raise ValueError("ack_wait: expected at least 1s (a batch must be recorded within it)")


class DatabaseConfig(_Record, frozen=True):
    url: str | None = None
    """``postgresql://user:pass@host:port/db``; built from DB_HOST/DB_USER/... when unset."""


class RedisConfig(_Record, frozen=True):
    url: str = "redis://127.0.0.1:6379/0"
    key_prefix: str = "llmux:"


class AdmissionConfig(_Record, frozen=True):
    """Rate limits and budget reservations on the hot path (the limits are admin events)."""

    failure_policy: Literal["closed", "open"] = "closed"
    """Distributed mode, Redis unreachable: ``closed`` refuses with 503; ``open`` admits against
    this instance's own counters (so N instances together allow up to N times a limit)."""
    default_max_tokens: int = 4096
    """Output tokens whose cost a request that sets no ``max_tokens`` reserves against budgets."""

    def __post_init__(self) -> None:
        if self.default_max_tokens < 0:
            raise ValueError("default_max_tokens: expected a non-negative integer")


class BusConfig(_Record, frozen=True):
    """The outbox between the hot path and the bus."""

    outbox_max_events: int = 2_000
    """Events held in memory (about 1.3 KB each). Past it, while the bus works but lags,
    responses wait for it (backpressure); while the bus is down, events go to the spill file.
    In steady state fewer than 300 wait even at saturation; the bound only matters when the bus
    stalls, and then it is memory the process keeps: a 10,000-event outbox filled once during a
    10-minute run left RSS 10 MiB higher for good (docs/performance.md, step 27)."""
    spill_max_bytes: int = 1024 * 1024 * 1024
    """Size of the local spill file beyond which publishing waits (and says so in a metric)."""
    batch_size: int = 256
    flush_interval: Duration = "5ms"
    max_backlog: int | None = 20_000
    """Standalone: events the local bus may hold that the ledger has not recorded yet. Past it,
    responses wait for the ledger (backpressure), so a gateway serving faster than it records
    keeps its ledger, spend and bus file current instead of falling further behind for as long
    as the load lasts; a ledger making no progress at all holds a response 5 s at most.
    ``null`` removes the bound. Keep it well above ``ledger.batch_size``: the ledger records
    fastest in full batches. (Distributed: the ledger has its own process; JetStream holds its
    backlog.)"""

    def __post_init__(self) -> None:
        _check_durations(self, "flush_interval")
        if self.max_backlog is not None and self.max_backlog < 1:
            raise ValueError("max_backlog: expected a positive number of events, or null")
        if self.outbox_max_events < self.batch_size:
            raise ValueError(f"outbox_max_events: expected at least bus.batch_size "
                             f"({self.batch_size}), so that a full batch fits")


class LedgerConfig(_Record, frozen=True):
    batch_size: int = 500
    batch_wait: Duration = "10ms"
    """How long a steady stream of events gathers before the ledger records it in one
    transaction. Longer means fewer transactions, but in standalone mode each batch briefly holds
    up the requests in flight on its core: at concurrency 1, 20 ms batches cost an added p99 of
    2.1-2.2 ms, 10 ms ones 1.8-2.0, for ~15 µs more core per request (docs/performance.md,
    steps 23 and 25). A full batch never waits, so at saturation the wait costs nothing.
    The same value applies to ``llmux ledger`` in distributed mode, where no requests share its
    core: 50 ms there means fewer Postgres transactions and fewer idle polls of the bus."""

    http_port: int = 0
    """Where ``llmux ledger`` serves ``/health/live``, ``/health/ready`` and ``/metrics`` (its lag
    behind the bus among them), on ``server.host``; ``0``: nowhere. Unused in standalone mode,
    where the gateway's own metrics show the backlog."""

    def __post_init__(self) -> None:
        _check_durations(self, "batch_wait")
        if not 0 <= self.http_port <= 65535:
            raise ValueError("http_port: expected a port number from 0 to 65535")


class ProjectorConfig(_Record, frozen=True):
    http_port: int = 0
    """Where ``llmux projector`` serves ``/health/live``, ``/health/ready`` and ``/metrics`` (each
    projection's lag behind the ledger among them), on ``server.host``; ``0``: nowhere."""

    def __post_init__(self) -> None:
        if not 0 <= self.http_port <= 65535:
            raise ValueError("http_port: expected a port number from 0 to 65535")


class MetricsConfig(_Record, frozen=True):
    enabled: bool = True
    path: str = "/metrics"


class TracingConfig(_Record, frozen=True):
    """Accepted from the design card's format; OpenTelemetry export is not built yet (``llmux
    serve`` warns when ``enabled`` is set)."""

    enabled: bool = False
    endpoint: str | None = None
    sample_ratio: float = 1.0


class LoggingConfig(_Record, frozen=True):
    level: Literal["debug", "info", "warning", "error"] = "info"
    json: bool = True


class LLMuxConfig(_Record, frozen=True):
    """The root of the YAML file."""

    server: ServerConfig = ServerConfig()
    deployment: DeploymentConfig = DeploymentConfig()
    providers: list[ProviderConfig] = []
    routing: RoutingConfig = RoutingConfig()
    auth: AuthConfig = AuthConfig()
    nats: NatsConfig = NatsConfig()
    database: DatabaseConfig = DatabaseConfig()
    redis: RedisConfig = RedisConfig()
    admission: AdmissionConfig = AdmissionConfig()
    bus: BusConfig = BusConfig()
    ledger: LedgerConfig = LedgerConfig()
    projector: ProjectorConfig = ProjectorConfig()
    metrics: MetricsConfig = MetricsConfig()
    tracing: TracingConfig = TracingConfig()
    logging: LoggingConfig = LoggingConfig()

    def __post_init__(self) -> None:
        names = [p.name for p in self.providers]
        for index, name in enumerate(names):
            if name in names[:index]:
                raise ValueError(f"providers[{index}].name: duplicate provider name {name!r}")
        backlog = self.bus.max_backlog
        if backlog is not None and backlog < self.ledger.batch_size:
            # NOTE: the ledger would then never see a full batch, and lingers between the small
            # ones while every response waits for it.
            raise ValueError(f"bus.max_backlog: must be at least ledger.batch_size "
                             f"({self.ledger.batch_size})")

    @property
    def is_distributed(self) -> bool:
        return self.deployment.mode == "distributed"


_ = Decimal  # NOTE: Decimal is used in annotations that msgspec resolves at run time.
