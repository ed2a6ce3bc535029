"""Render a NATS ``authorization`` block: the services' user, and one integration user per tenant.

An integration user can read its own tenant's events and nothing else: it may create only the
durable consumer ``webhook_<tenant>`` (any name works; one is fixed here) and only with the filter
``autoloader.<tenant>.>`` — the server checks the filter, which is part of the consumer-create API
subject — fetch from and acknowledge on that consumer, and receive replies on its inbox. It cannot
subscribe to the stream's subjects directly, read messages by sequence, or touch other consumers.

    python -m examples.nats_integration_user --service-password S --integration tnt_acme=int_acme:P
"""

from __future__ import annotations

import argparse
import json

from examples.webhook_subscriber import STREAM, consumer_name


def integration_permissions(tenant: str, *, stream: str = STREAM) -> dict[str, object]:
    """The publish/subscribe permissions of ``tenant``'s integration user."""
    consumer = consumer_name(tenant)
    return {
        "publish": {
            "allow": [
                f"$JS.API.CONSUMER.CREATE.{stream}.{consumer}.autoloader.{tenant}.>",
                f"$JS.API.CONSUMER.INFO.{stream}.{consumer}",
                f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{consumer}",
                f"$JS.ACK.{stream}.{consumer}.>",
            ]
        },
        "subscribe": {"allow": ["_INBOX.>"]},
    }


def authorization_block(
    *, service_user: str, service_password: str, integrations: dict[str, tuple[str, str]], stream: str = STREAM
) -> str:
    """A NATS configuration ``authorization`` block (JSON is valid NATS configuration syntax).

    Args:
        service_user: The user the Autoloader services connect as (all permissions).
        service_password: Its password.
        integrations: Tenant id -> (user, password) of its integration user.
        stream: The event stream's name.
    """
    users: list[dict[str, object]] = [{"user": service_user, "password": service_password}]
    for tenant, (user, password) in sorted(integrations.items()):
        permissions = integration_permissions(tenant, stream=stream)
        users.append({"user": user, "password": password, "permissions": permissions})
    return "authorization " + json.dumps({"users": users}, indent=2)


def main() -> None:
    """Command-line entry point: print the block."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--service-user", default="autoloader")
    parser.add_argument("--service-password", required=True)
    parser.add_argument("--integration", action="append", default=[], metavar="TENANT=USER:PASSWORD")
    args = parser.parse_args()
    integrations = {}
    for item in args.integration:
        tenant, credentials = item.split("=", 1)
        user, password = credentials.split(":", 1)
        integrations[tenant] = (user, password)
    print(
        authorization_block(
            service_user=args.service_user, service_password=args.service_password, integrations=integrations
        )
    )


if __name__ == "__main__":
    main()
