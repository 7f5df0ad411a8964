"""Helpers of the admin UI tests."""
