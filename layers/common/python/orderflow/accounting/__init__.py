"""The accounting hand-off: an order as a cash sale, sales order or sales invoice for accounting."""
