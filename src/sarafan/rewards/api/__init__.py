"""The rewards API routers: rewards and certificates, brands and pools, issuers
(mounted by sarafan/api.py)."""
