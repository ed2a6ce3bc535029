"""Autoloader contracts library."""
