"""Access control: who is calling (principals, credentials) and what they may do (roles).

Kept empty so that importing ``hub.auth.model`` loads no credential library.
"""
