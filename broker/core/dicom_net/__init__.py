"""pynetdicom's room: every use of pynetdicom's internals, each behind a small named function or class.

The rest of the tree uses pynetdicom's public API plus this package; what changes between pynetdicom
versions (private attributes, the DUL's queues and socket, the response-message table, `_config`) is
found here and nowhere else. Imports pydicom and pynetdicom, never a project app.

version           the tested pynetdicom versions and the gate a listener or the router passes at start
association       one association's internals: its TCP socket, queued PDUs, server, rejection, reader hook
server            the listener's association server classes and how one is started without blocking
contexts          supported presentation contexts that are cheap to copy per association; unlisted storage classes
find_response     C-FIND-RSP messages with a cached Command Set; identifiers sent as already encoded
pacing            a long answer paced to the network; a peer that stopped reading ended
transport_limits  deadlines on what a peer sends; connection caps at accept
options           pynetdicom's module-level switches (identifier logging, chunked C-STORE sends)
"""
