"""The record engine: one implementation of validation, listing, safe writes,
idempotency, rendering and routes, parameterised by a resource declaration."""
