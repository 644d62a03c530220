"""The HTTP application: app factory, middleware and error rendering."""
