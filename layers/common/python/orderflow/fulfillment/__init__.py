"""After validation: fulfillment sources and inventory, sourcing (DOM), fulfillment orders, providers."""
