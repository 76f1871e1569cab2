"""The rewards console pages: rewards, certificates and their actions, the catalogue
(brands, pools, codes) and the external issuers. admin.py registers them."""
