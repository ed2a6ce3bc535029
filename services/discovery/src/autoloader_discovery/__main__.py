"""``python -m autoloader_discovery``."""

from autoloader_bus.runtime import run_service
from autoloader_discovery.app import body

if __name__ == "__main__":
    run_service("discovery", body)
