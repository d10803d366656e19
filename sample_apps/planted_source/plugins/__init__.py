"""Plugins of the planted_source sample."""
