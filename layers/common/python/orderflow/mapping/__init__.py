"""Mapping: resolving an order's accounts, price lists, units and products, and the CSV files of
mappings and inventory."""
