"""Where work units train, behind one Executor protocol (base.py); registry.py picks one by
URL (local, dask+local:N, dask://HOST:PORT, tls://HOST:PORT)."""
