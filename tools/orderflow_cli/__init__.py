"""The command line: the demo, the local API, flows, the BigCommerce store and operations through the
admin API (``python -m orderflow_cli --help``)."""
