"""The union hierarchy and the regions it covers: configuration, shared by every service."""
