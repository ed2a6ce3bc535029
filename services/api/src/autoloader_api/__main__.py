"""Entry point: ``python -m autoloader_api``."""

from autoloader_api.app import body
from autoloader_bus.runtime import run_service


def main() -> None:
    """Run the api service until SIGTERM/SIGINT."""
    run_service("api", body)


if __name__ == "__main__":
    main()
