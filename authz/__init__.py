"""authz: access rights to data products for Mijn Gegevensdiensten."""

__version__ = "0.1.0"
