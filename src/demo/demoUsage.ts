// The demo's usage and ports, apart from the demo itself: `jwtproxy demo -help` loads no servers.

export const DEMO_BASE_PORT = 8000;
export const DEMO_MAX_BASE_PORT = 65_445;

export const DEMO_USAGE = `usage: jwtproxy demo [-base-port ${DEMO_BASE_PORT}] [-log-level warn]
Runs on loopback, until Ctrl-C: an upstream on port N (the base port), a local stand-in for a
Cloudflare Access team on N+70, a signer on N+80, a verifier on N+81, a verifier behind
Access on N+82 and a key registry on N+90; it prints curl commands to try.`;
