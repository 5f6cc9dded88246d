"""Figures drawn from search files."""
