"""The steps of `make bench`, one module each; every module has `run(bench)`."""
