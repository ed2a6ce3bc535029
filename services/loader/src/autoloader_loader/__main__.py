"""``python -m autoloader_loader``: run the loader service."""

from autoloader_bus.runtime import run_service
from autoloader_loader.app import body


def main() -> None:
    """Entry point."""
    run_service("loader", body)


if __name__ == "__main__":
    main()
