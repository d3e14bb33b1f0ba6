// The bench's C peer: HAProxy 2.6 configurations doing natively what each verifier scenario does,
// with its JWT converters (jwt_header_query, jwt_verify) and a stick table for single-use jti.
// The payload is base64url-decoded once per request (word(2,.),ub64dec) and queried with
// json_query: in 2.6, `jwt_payload_query` without a path yields nothing to store in a variable.

export interface HaproxyCommon {
  /** 127.0.0.1:port to listen on. */
  listen: string;
  /** The upstream's host:port. */
  upstream: string;
  /** `nbthread`: the proxy's worker count. */
  threads: number;
  /** A PEM public key file (SPKI): jwt_verify loads it at start. */
  publicKeyFile: string;
  kid: string;
}

/** The unique-token scenario (c): the Go verifier's checks, every one, jti single-use in a stick table. */
export interface UniqueTokenChecks extends HaproxyCommon {
  issuer: string;
  audience: string;
  maxTtlSeconds: number;
  maxSkewSeconds: number;
}

/** The reused Cloudflare Access token (h): the header token, alg, kid, signature, iss, aud tag, exp; the email passed on. */
export interface AccessChecks extends HaproxyCommon {
  issuer: string;
  audienceTag: string;
}

function frame(common: HaproxyCommon, frontend: string): string {
  return `global
  nbthread ${common.threads}
  maxconn 4096
defaults
  mode http
  timeout connect 5s
  timeout client 65s
  timeout server 60s
  option forwardfor
frontend verifier
  bind ${common.listen}
${frontend}  default_backend upstream
backend upstream
  http-reuse always
  server upstream ${common.upstream}
`;
}

/** The token's header, its signature, then the payload decoded once into txn.payload. */
function signatureRules(token: string, common: HaproxyCommon): string {
  return `  http-request set-var(txn.now) date
  http-request set-var(txn.token) ${token}
  http-request deny status 401 unless { var(txn.token),jwt_header_query('$.alg') -m str RS256 }
  http-request deny status 401 unless { var(txn.token),jwt_header_query('$.kid') -m str ${common.kid} }
  http-request deny status 401 unless { var(txn.token),jwt_verify("RS256","${common.publicKeyFile}") -m int 1 }
  http-request set-var(txn.payload) var(txn.token),word(2,.),ub64dec
`;
}

export function uniqueTokenConfig(checks: UniqueTokenChecks): string {
  return `${frame(
    checks,
    `${signatureRules('http_auth_bearer', checks)}  http-request deny status 401 unless { var(txn.payload),json_query('$.iss') -m str ${checks.issuer} }
  http-request deny status 401 unless { var(txn.payload),json_query('$.aud') -m str ${checks.audience} }
  http-request set-var(txn.exp) var(txn.payload),json_query('$.exp','int')
  http-request set-var(txn.nbf) var(txn.payload),json_query('$.nbf','int')
  http-request set-var(txn.iat) var(txn.payload),json_query('$.iat','int')
  http-request deny status 401 unless { var(txn.exp),sub(txn.now) -m int ge 0 }
  http-request deny status 401 unless { var(txn.nbf),sub(txn.now) -m int le 0 }
  http-request deny status 401 unless { var(txn.iat),sub(txn.now) -m int le ${checks.maxSkewSeconds} }
  http-request deny status 401 unless { var(txn.exp),sub(txn.iat) -m int le ${checks.maxTtlSeconds} }
  http-request set-var(txn.jti) var(txn.payload),json_query('$.jti')
  http-request deny status 401 unless { var(txn.jti) -m len gt 0 }
  http-request track-sc0 var(txn.jti) table jti
  http-request deny status 401 if { sc0_inc_gpc0 gt 1 }
`,
  )}backend jti
  stick-table type string len 64 size 2m expire ${checks.maxTtlSeconds}s store gpc0
`;
}

export function accessConfig(checks: AccessChecks): string {
  return frame(
    checks,
    `${signatureRules('req.hdr(cf-access-jwt-assertion)', checks)}  http-request deny status 403 unless { var(txn.payload),json_query('$.iss') -m str ${checks.issuer} }
  http-request deny status 403 unless { var(txn.payload),json_query('$.aud[0]') -m str ${checks.audienceTag} }
  http-request deny status 403 unless { var(txn.payload),json_query('$.exp','int'),sub(txn.now) -m int ge 0 }
  http-request set-header X-Auth-Email %[var(txn.payload),json_query('$.email')]
`,
  );
}
