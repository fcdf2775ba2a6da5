"""Shipments: planned from the order's lines, posted to BigCommerce once, and those made in the store."""
