"""Autoloader scheduler service."""
