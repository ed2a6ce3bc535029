"""Runnable examples of integrations with Autoloader (see docs/integrations.md)."""
