"""Validation of a cluster configuration: every problem becomes a FieldError saying what to send."""

from __future__ import annotations

import re

from autoloader_api.domain.validation import IDENTIFIER_RULE, is_identifier, validate_name
from autoloader_contracts.cluster import CLUSTER_KINDS, COMMIT_STRATEGIES, ClusterConfig, ClusterPricing
from autoloader_core.errors import FieldError

_SC_URL = re.compile(r"^sc://(?P<host>[A-Za-z0-9.\-]+|\[[0-9A-Fa-f:]+\])(?::(?P<port>\d{1,5}))?(?:/.*)?$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")


def validate_cluster(config: ClusterConfig) -> list[FieldError]:
    """Return every problem of ``config`` (empty when it is valid)."""
    errors = validate_name(config.name)
    if config.kind not in CLUSTER_KINDS:
        errors.append(FieldError("kind", f"unknown kind {config.kind!r}; use one of {', '.join(CLUSTER_KINDS)}"))
    else:
        errors += _url_errors(config)
    if config.commit_strategy not in COMMIT_STRATEGIES:
        errors.append(
            FieldError(
                "commit_strategy",
                f"unknown commit_strategy {config.commit_strategy!r}; use one of {', '.join(COMMIT_STRATEGIES)}",
            )
        )
    if not is_identifier(config.catalog):
        errors.append(
            FieldError(
                "catalog",
                f"{config.catalog!r} is not a valid catalog name: use letters, digits and underscores "
                f"(rule {IDENTIFIER_RULE})",
            )
        )
    return errors + pricing_errors(config.pricing)


def pricing_errors(pricing: ClusterPricing) -> list[FieldError]:
    """Nodes must be positive, rates zero or more, the currency an ISO 4217 code."""
    errors = []
    if pricing.nodes < 1:
        errors.append(FieldError("pricing.nodes", f"nodes must be 1 or more, got {pricing.nodes}"))
    for name in ("units_per_node_hour", "price_per_unit"):
        value = getattr(pricing, name)
        if value < 0:
            errors.append(FieldError(f"pricing.{name}", f"{name} must be 0 or more, got {value}"))
    if not _CURRENCY.match(pricing.currency):
        errors.append(
            FieldError("pricing.currency", f"currency {pricing.currency!r} is not an ISO 4217 code; send e.g. 'USD'")
        )
    return errors


def _url_errors(config: ClusterConfig) -> list[FieldError]:
    if config.kind == "embedded":
        if config.url is not None:
            return [FieldError("url", "an embedded cluster has no url; remove url")]
        return []
    if not config.url:
        return [FieldError("url", "a spark_connect cluster needs url: send 'sc://host:port', e.g. 'sc://spark:15002'")]
    match = _SC_URL.match(config.url)
    if match is None:
        return [
            FieldError(
                "url", f"url {config.url!r} is not a Spark Connect URL; send 'sc://host:port', e.g. 'sc://spark:15002'"
            )
        ]
    port = match.group("port")
    if port is not None and not 1 <= int(port) <= 65535:
        return [FieldError("url", f"port {port} of url is out of range; use 1 to 65535")]
    return []
