"""SCIM 2.0 provisioning (RFC 7643/7644): identity providers push users and groups to Terrace.

tokens.py (bearer tokens) · filters.py (filter → Q) · resources.py (representations, discovery) ·
services.py (writes, audited, transactional) · views.py · urls.py
"""
