"""The component model: ids, protocols, errors, factories and the registry."""
