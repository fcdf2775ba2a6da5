"""BigCommerce: the REST API client, order statuses and webhook payloads."""
