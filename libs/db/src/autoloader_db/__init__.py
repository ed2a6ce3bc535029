"""Autoloader db library."""
