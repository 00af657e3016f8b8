"""The lab service: one long-lived process per database file owns its only writable
connection, runs the experiment queue as work units on an executor (a spawned local worker,
or a Dask cluster: engine/executors), and serves the CLI and the TUI over a Unix socket
(DESIGN: process model, the execution path; docs/service.md).

  client.py     ServiceClient, connect(), service_running(): what clients import (stdlib only)
  launch.py     start/stop the detached service process
  main.py       the service process: lock, store, recovery, socket, shutdown
  core.py       LabService: the API's operations, planning and storing units
  lifecycle.py  the Status enum and the allowed changes of an experiment's status
  scheduler.py  the queue loop: one experiment at a time, units through the executor
  server.py     the socket server; events.py the progress fan-out; protocol.py the wire format
  configs.py, owners.py, paths.py: configs in the queue, who trains a running experiment,
                the files beside the database
"""
