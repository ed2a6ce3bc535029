"""Autoloader projector service."""
