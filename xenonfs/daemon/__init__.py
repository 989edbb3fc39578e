"""The xenonfs daemon: one engine, every mount (each in its own worker
process), the control socket, systemd integration.

Layout: ``main`` (the daemon program), ``workers`` (daemon side of a mount
worker), ``worker`` (the worker process), ``pipe`` (their JSON-lines channel),
``control`` (the gRPC control server and its peer-uid guard), ``client`` (the
CLI's side of the control socket).
"""
