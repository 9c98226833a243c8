"""`terrace`: the command-line client of the Terrace REST API (/api/v1/)."""
__version__ = "0.1.0"
