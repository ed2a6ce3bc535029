"""Autoloader bus library."""
