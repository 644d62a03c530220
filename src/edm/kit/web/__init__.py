"""Web plumbing shared by every route: declarations, routing, errors, request context."""
