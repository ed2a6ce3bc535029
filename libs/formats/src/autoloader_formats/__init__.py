"""Autoloader formats library."""
