"""The lab service: one long-lived process per database file owns its only writable
connection, runs the experiment queue as work units on an executor (a spawned local worker,
or a Dask cluster: engine/executors), and serves the CLI and the TUI over a Unix socket
(DESIGN: process model, the execution path; docs/service.md).

  client.py     ServiceClient, connect(), service_running(): what clients import (stdlib only)
  launch.py     start/stop the detached service process
  main.py       the service process: lock, store, recovery, socket, shutdown
  core.py       LabService: the API's operations and the queue's transitions
  scheduler.py  the queue loop: one experiment at a time, run by engine/runner.py
  ledger.py     the runner's Ledger here: the Store under the service's lock
  server.py     the socket server; events.py the progress fan-out; protocol.py the wire format
  configs.py, owners.py, paths.py: configs in the queue, who trains a running experiment,
                the files beside the database
"""
