"""Sources: the raw data contract, readers, validation and the synthetic hauler."""
