// Envoy's X-Forwarded-Client-Cert (XFCC), both ways. Grammar (Envoy docs, "x-forwarded-client-cert"):
// elements separated by ",", one per proxy, the nearest proxy's last; in an element, "key=value"
// pairs separated by ";", keys case-insensitive; a value holding "," ";" or "=" is double-quoted,
// with a double quote inside written \". Subject is always quoted; each URI and DNS SAN is a
// pair of its own; Cert is the URL-encoded PEM.
import { certificateFacts, fingerprints, type CertificateFacts } from '../x509/CertificateFacts';
import { DerError } from '../x509/der';
import { commonNameOf } from '../x509/distinguishedName';
import { pemBlocks } from '../x509/pem';

function quoted(value: string): string {
  return `"${value.replace(/"/g, '\\"')}"`;
}

function valueText(value: string): string {
  return /[,;="]/.test(value) ? quoted(value) : value;
}

/** The XFCC element for a verified certificate: Hash, Subject, each URI and DNS SAN (Envoy's order). */
export function forwardedClientCert(facts: CertificateFacts): string {
  const pairs = [`Hash=${facts.fingerprint_sha256}`, `Subject=${quoted(facts.subject)}`];
  for (const uri of facts.san_uri) pairs.push(`URI=${valueText(uri)}`);
  for (const dns of facts.san_dns) pairs.push(`DNS=${valueText(dns)}`);
  return pairs.join(';');
}

/** Splits at `separator` outside double quotes; a quote after a backslash does not count (Envoy's rule). */
function splitOutsideQuotes(text: string, separator: string): string[] | undefined {
  const parts: string[] = [];
  let inQuotes = false;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"' && text[i - 1] !== '\\') inQuotes = !inQuotes;
    else if (c === separator && !inQuotes) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  if (inQuotes) return undefined;
  parts.push(text.slice(start));
  return parts;
}

function unquoted(raw: string): string {
  const value = raw.trim();
  if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) return value.slice(1, -1).replace(/\\"/g, '"');
  return value;
}

/**
 * A certificate sent URL-encoded: a PEM (nginx $ssl_client_escaped_cert, XFCC Cert) or its
 * base64 body alone, a chain's certificates separated by "," (Traefik passTLSClientCert).
 * The first certificate is the client's.
 */
export function certificateFromEscaped(value: string): Buffer | undefined {
  let text: string;
  try {
    text = decodeURIComponent(value);
  } catch {
    return undefined;
  }
  if (text.includes('-----BEGIN')) return pemBlocks(text, 'CERTIFICATE')[0];
  const body = text.split(',')[0].replace(/\s+/g, '');
  return /^[A-Za-z0-9+/]+={0,2}$/.test(body) ? Buffer.from(body, 'base64') : undefined;
}

/** Facts from a certificate's DER, or undefined when it is not one. */
export function factsFromDer(der: Buffer | undefined): CertificateFacts | undefined {
  if (!der || der.length === 0) return undefined;
  try {
    return certificateFacts(der);
  } catch (error) {
    if (error instanceof DerError) return undefined;
    throw error;
  }
}

/**
 * The facts in the last XFCC element: all of them from its Cert when present (which must match
 * its Hash), else Hash, Subject, URI and DNS alone. Undefined when the header cannot be read or
 * names no certificate.
 */
export function factsFromForwardedClientCert(header: string): CertificateFacts | undefined {
  const elements = splitOutsideQuotes(header, ',');
  const pairs = elements && splitOutsideQuotes(elements[elements.length - 1], ';');
  if (!pairs) return undefined;
  let hash: string | undefined;
  let cert: string | undefined;
  let subject = '';
  const uris: string[] = [];
  const dns: string[] = [];
  for (const pair of pairs) {
    const equals = pair.indexOf('=');
    if (equals === -1) continue;
    const key = pair.slice(0, equals).trim().toLowerCase();
    const value = unquoted(pair.slice(equals + 1));
    if (key === 'hash') hash = value.toLowerCase();
    else if (key === 'cert') cert = value;
    else if (key === 'subject') subject = value;
    else if (key === 'uri' && value) uris.push(value);
    else if (key === 'dns' && value) dns.push(value);
  }
  if (hash !== undefined && !/^[0-9a-f]{64}$/.test(hash)) return undefined;
  if (cert !== undefined) {
    const facts = factsFromDer(certificateFromEscaped(cert));
    return facts && (hash === undefined || hash === facts.fingerprint_sha256) ? facts : undefined;
  }
  if (hash === undefined) return undefined;
  const commonName = commonNameOf(subject);
  return {
    subject,
    ...(commonName !== undefined ? { subject_cn: commonName } : {}),
    ...fingerprints(Buffer.from(hash, 'hex')),
    san_dns: dns,
    san_uri: uris,
    san_email: [],
  };
}
