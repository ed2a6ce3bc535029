"""Autoloader sources library."""
