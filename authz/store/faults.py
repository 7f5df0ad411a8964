"""The store's name for a database that cannot be reached, so that the edges map it to 503 without importing SQL."""

from __future__ import annotations

from sqlalchemy.exc import OperationalError

DatabaseDown = OperationalError
