"""Autoloader loader service."""
