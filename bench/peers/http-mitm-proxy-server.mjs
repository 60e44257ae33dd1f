// http-mitm-proxy 1.1.0 as a Node user would run it: `new Proxy()`, `.listen()`, no handlers, no logging of our own.
// One option is set: keepAlive. Without it the library answers every response with `Connection: close` and opens a
// new upstream connection per request (lib/proxy.js, _onHttpServerRequest), so no client could keep a connection
// alive through it; with it, it reaches the ~2,950 req/s that issue 6 quotes for it. Its CA lives in BENCH_CA_DIR (it writes certs/ca.pem there). Upstream roots come from
// NODE_EXTRA_CA_CERTS, as a user would give them.

import dns from 'node:dns';
import { Proxy } from 'http-mitm-proxy';

// The equivalent of mitmlab's --resolve for this peer: names under BENCH_RESOLVE_SUFFIX go to 127.0.0.1, without DNS.
// net.connect looks names up through dns.lookup, so this covers every upstream connection the library makes.
const suffix = process.env.BENCH_RESOLVE_SUFFIX;
if (suffix) {
  const lookup = dns.lookup;
  dns.lookup = (host, options, callback) => {
    if (typeof options === 'function') return lookup.call(dns, host.endsWith(suffix) ? '127.0.0.1' : host, options);
    return lookup.call(dns, typeof host === 'string' && host.endsWith(suffix) ? '127.0.0.1' : host, options, callback);
  };
}

// The library prints a line per new host through console.debug; a bare setup keeps stdout quiet.
console.debug = () => {};

const proxy = new Proxy();
proxy.listen({ host: '127.0.0.1', port: 0, sslCaDir: process.env.BENCH_CA_DIR, keepAlive: true }, (error) => {
  if (error) {
    console.error(`http-mitm-proxy failed to start: ${error.message}`);
    process.exit(1);
  }
  console.log(`http-mitm-proxy listening on ${proxy.httpPort}`);
});
const stop = () => {
  proxy.close();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
