"""Datasets shipped with archtune."""
