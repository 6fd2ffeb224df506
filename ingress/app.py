"""``create_app(config)``: the one place the gateway's long-lived objects are built and wired.

Everything a resource needs arrives through its ``__init__``; background work (bus, outbox, ledger
and projector in standalone mode) is owned by the ``Runtime`` and started and stopped with the ASGI
lifespan.
"""

from __future__ import annotations

from typing import Any

import falcon.asgi

from ingress.accounting import Accounting
from ingress.admission_estimate import ReservationEstimator, fallback_groups
from ingress.admission_gate import AdmissionGate, RateLimitHeaders
from ingress.anthropic_errors import install_anthropic_errors
from ingress.auth import KeyRegistry
from ingress.budget_seeding import BudgetSeeder
from ingress.chat import ChatService
from ingress.control import ControlState
from ingress.control.api import ManagementAPI
from ingress.control.feed import AdminFeed
from ingress.errors import install_error_handlers
from ingress.lifecycle import Lifecycle
from ingress.listener import Listener
from ingress.messages import MessagesService
from ingress.metrics import GatewayMetrics, MetricsResource
from ingress.middleware import RequestContextMiddleware
from ingress.resources.chat import ChatCompletions
from ingress.resources.completions import Completions
from ingress.resources.control import DeploymentCooldown, Deployments
from ingress.resources.embeddings import Embeddings
from ingress.resources.health import Liveness, Readiness
from ingress.resources.messages import Messages
from ingress.resources.models import Models
from ingress.resources.responses import Responses
from ingress.resources.spend import SpendByKey
from ingress.resources.unsupported import NotSupportedRoute
from ingress.responses import ResponsesService
from ingress.routing_control import RoutingControl
from ingress.runtime import build_runtime
from ingress.secrets import load_secrets
from router_engine import Router, uses_shared_stats
from schemas.config import LLMuxConfig, duration_seconds

__all__ = ["create_app"]

PUBLIC_PATHS = frozenset({"/health/live", "/health/ready", "/health"})
ANTHROPIC_PATHS = frozenset({"/v1/messages", "/messages", "/v1/messages/count_tokens",
                             "/messages/count_tokens"})


def create_app(config: LLMuxConfig) -> falcon.asgi.App[Any, Any]:
    """The ASGI app for ``config``; start it under an ASGI server that runs the lifespan."""
    secrets = load_secrets(config)
    runtime = build_runtime(config)
    registry = KeyRegistry(secrets.hash_secret, secrets.master_key, ControlState())
    router = Router(config, stats=runtime.stats)
    metrics = GatewayMetrics(runtime.outbox, runtime.admission)
    accounting = Accounting(runtime.outbox, metrics)
    estimator = ReservationEstimator(router, fallback_groups(config.routing),
                                     config.admission.default_max_tokens)
    gate = AdmissionGate(runtime.admission, registry.state, estimator, accounting)
    seeder = BudgetSeeder(runtime.admission, registry.state, runtime.queries, runtime.outbox,
                          mode=config.deployment.mode, catch_up=not config.is_distributed)
    management = ManagementAPI(registry, runtime.outbox)
    feed = AdminFeed(registry.state, runtime.bus, runtime.subject_prefix, runtime.queries)
    context = RequestContextMiddleware(registry, PUBLIC_PATHS | {config.metrics.path})
    admin_app = _management_app(config, management, context) if config.server.admin_port else None
    listener = (Listener(admin_app, config.server.host, config.server.admin_port,
                         port_name="admin port", trusted_proxies=config.server.trusted_proxies,
                         read_timeout_s=duration_seconds(config.server.read_timeout))
                if admin_app is not None else None)
    lifecycle = Lifecycle(runtime, feed, management.keys, router, secrets, listener, seeder, gate)

    app: falcon.asgi.App[Any, Any] = falcon.asgi.App(
        middleware=[lifecycle, context, RateLimitHeaders()],  # type: ignore[arg-type]  # Falcon types one protocol per list
        cors_enable=False,
    )
    install_error_handlers(app)
    install_anthropic_errors(app, ANTHROPIC_PATHS)
    max_body = config.server.max_body_bytes
    _add_api_surface(app, ChatService(router, accounting, gate), router, max_body)
    if admin_app is None:
        management.install(app, max_body)
        app.add_route("/spend/keys", SpendByKey(runtime.queries))
    else:
        admin_app.add_route("/spend/keys", SpendByKey(runtime.queries))
    control = RoutingControl(router, strategy=config.routing.strategy,
                             is_shared=uses_shared_stats(config))
    control_app = app if admin_app is None else admin_app  # NOTE: management lives on admin_port
    control_app.add_route("/control/deployments", Deployments(control))
    control_app.add_route("/control/deployments/cooldown", DeploymentCooldown(control, max_body))
    if config.metrics.enabled:
        app.add_route(config.metrics.path, MetricsResource(metrics))
    app.add_route("/health/live", Liveness())
    app.add_route("/health/ready", Readiness(runtime.readiness_checks()))
    return app


def _add_api_surface(app: falcon.asgi.App[Any, Any], service: ChatService, router: Router,
                     max_body: int) -> None:
    """The OpenAI and Anthropic endpoints, each under ``/v1`` and without it."""
    messages = Messages(MessagesService(service, router), max_body)
    surface = {
        "/chat/completions": ChatCompletions(service, max_body),
        "/completions": Completions(service, max_body),
        "/embeddings": Embeddings(service, max_body),
        "/responses": Responses(ResponsesService(service), max_body),
        "/messages": messages,
        "/audio/{rest:path}": NotSupportedRoute("The audio API"),
        "/batches": NotSupportedRoute("The batch API"),
        "/batches/{rest:path}": NotSupportedRoute("The batch API"),
    }
    models = Models(router)
    for prefix in ("/v1", ""):
        for path, resource in surface.items():
            app.add_route(prefix + path, resource)
        app.add_route(f"{prefix}/messages/count_tokens", messages, suffix="count_tokens")
        app.add_route(f"{prefix}/models", models)
        app.add_route(f"{prefix}/models/{{model_id:path}}", models, suffix="item")


def _management_app(config: LLMuxConfig, management: ManagementAPI,
                    context: RequestContextMiddleware) -> falcon.asgi.App[Any, Any]:
    """The app served on ``server.admin_port``: the management API and liveness only.

    Its lifespan is not run: the main app's ``Lifecycle`` starts and stops it (see
    ``ingress.listener``).
    """
    app: falcon.asgi.App[Any, Any] = falcon.asgi.App(middleware=[context], cors_enable=False)
    install_error_handlers(app)
    management.install(app, config.server.max_body_bytes)
    app.add_route("/health/live", Liveness())
    return app
