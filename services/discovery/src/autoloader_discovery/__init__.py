"""Autoloader discovery service."""
