"""The BigCommerce connector: webhooks in, pull sync and the sweep, catalog items into our items."""
