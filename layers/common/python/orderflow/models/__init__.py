"""The domain's models: orders, flows, policies, fulfillment, shipments, steps and the events
that start flows. Pure data and the rules on it; nothing here imports from above it."""
