"""Maintainers' tools for the course repository (not installed with course_utils)."""
