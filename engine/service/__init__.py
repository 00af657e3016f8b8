"""The lab service: one long-lived process per database file owns its only writable
connection, runs the experiment queue in spawned workers, and serves the CLI and the TUI
over a Unix socket (DESIGN: process model; docs/service.md).

  client.py     ServiceClient, connect(), service_running(): what clients import (stdlib only)
  launch.py     start/stop the detached service process
  main.py       the service process: lock, store, recovery, socket, shutdown
  core.py       LabService: the API's operations and the queue's state changes
  scheduler.py  the queue loop and the worker's supervision
  worker.py     the spawned training process
  server.py     the socket server; events.py the progress fan-out; protocol.py the wire format
  configs.py, results.py, owners.py, paths.py: configs in the queue, result hand-over,
                foreground runs, the files beside the database
"""
