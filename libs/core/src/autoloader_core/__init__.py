"""Autoloader core library."""
