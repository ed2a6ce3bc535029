"""Entry point: ``python -m autoloader_scheduler``."""

from autoloader_bus.runtime import run_service
from autoloader_scheduler.app import body


def main() -> None:
    """Run the scheduler service until SIGTERM/SIGINT."""
    run_service("scheduler", body)


if __name__ == "__main__":
    main()
