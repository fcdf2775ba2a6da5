"""Returns: requests (RMAs), the steps of return flows, receiving, refunds, and refunds made in the store."""
