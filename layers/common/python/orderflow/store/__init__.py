"""DynamoDB repositories: orders and step results, mappings, settings, webhook deliveries."""
