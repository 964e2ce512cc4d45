"""Serving: call lists, the API, the rep web page and the outcomes store."""
