# A mitmdump addon: the equivalent of mitmlab's --resolve for this peer. Names under BENCH_RESOLVE_SUFFIX are
# connected to 127.0.0.1 without DNS. The server_connect hook runs before mitmproxy opens the upstream socket
# (mitmproxy/proxy/server.py, open_connection), and the upstream SNI stays the client's name.
import os

SUFFIX = os.environ.get("BENCH_RESOLVE_SUFFIX", "")


def server_connect(data):
    host, port = data.server.address
    if SUFFIX and host.endswith(SUFFIX):
        data.server.address = ("127.0.0.1", port)
