"""The HTTP edge: parse and validate input, call the core, shape the answer."""
