"""Webhooks: tenants subscribe URLs to change events; a worker delivers them signed.

``routes`` (HTTP), ``service`` (rules), ``tables`` (storage), ``ssrf`` (which
URLs may be called), ``signing`` (Standard Webhooks signatures), ``worker``
(fan-out of ``record_events`` into deliveries, and sending them).  Users'
documentation: docs/webhooks.md.
"""
