"""Publication of a business date's call lists: the catalog, the atomic writer, the CRM files and the rep pages."""
