"""Flow definitions: the model, validation and the ASL generator."""
