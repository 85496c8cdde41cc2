"""The role runners behind ``crossbook serve``: matching, clearing and gateway shells.

Each role is a shell around pure code (the engines, the protocol, the report renderer): it
owns sockets, reads the injected clock (``gateway.roles.clock``) and puts time into
commands. Roles meet only through ZeroMQ sockets; ``gateway.serve`` runs all three in one
process or one per process (docs/serve.md).
"""
