"""Autoloader api service."""
