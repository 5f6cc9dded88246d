"""The search loop: SearchInstance."""

from archtune.search.instance import SearchInstance, search_summary

__all__ = ["SearchInstance", "search_summary"]
