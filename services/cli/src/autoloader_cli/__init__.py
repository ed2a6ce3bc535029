"""Autoloader cli service."""
