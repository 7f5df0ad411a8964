"""Everything that talks SQL. Nothing outside this package builds a query."""
