// Client certificate authorities for mTLS tests, made by openssl: a CA, client certificates it
// issues (EC P-256, clientAuth, SANs), revocations and the CRL `openssl ca -gencrl` writes.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface ClientCertificate {
  keyFile: string;
  crtFile: string;
  key: Buffer;
  cert: Buffer;
}

export interface IssueOptions {
  /** The subject as openssl -subj takes it, e.g. "/O=Example/CN=device-42". */
  subject: string;
  /** subjectAltName entries, e.g. ["DNS:device-42.example", "URI:spiffe://example/device/42"]. */
  altNames?: string[];
  /** With -multivalue-rdn: "+" joins attributes into one RDN. */
  multivalue?: boolean;
  /** Attribute types openssl req is taught for this request only (name → dotted OID). */
  oids?: Record<string, string>;
}

export class TestCa {
  readonly crtFile: string;
  readonly keyFile: string;
  private readonly configFile: string;
  private issued = 0;

  private constructor(readonly dir: string) {
    this.crtFile = path.join(dir, 'ca.crt');
    this.keyFile = path.join(dir, 'ca.key');
    this.configFile = path.join(dir, 'ca.cnf');
  }

  /** A new CA in a directory of its own under `parent`. */
  static async create(parent: string, name = 'Test Client CA'): Promise<TestCa> {
    const ca = new TestCa(fs.mkdtempSync(path.join(parent, 'ca-')));
    fs.writeFileSync(path.join(ca.dir, 'index.txt'), '');
    fs.writeFileSync(path.join(ca.dir, 'crlnumber'), '01\n');
    fs.writeFileSync(
      ca.configFile,
      [
        '[ca]',
        'default_ca = test_ca',
        '[test_ca]',
        `database = ${path.join(ca.dir, 'index.txt')}`,
        `crlnumber = ${path.join(ca.dir, 'crlnumber')}`,
        `certificate = ${ca.crtFile}`,
        `private_key = ${ca.keyFile}`,
        'default_md = sha256',
        'default_crl_days = 1',
        '',
      ].join('\n'),
    );
    await run('openssl', [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      ca.keyFile,
      '-out',
      ca.crtFile,
      '-days',
      '2',
      '-subj',
      `/O=Example/CN=${name}`,
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ]);
    return ca;
  }

  /** A client certificate signed by this CA. */
  async issue(options: IssueOptions): Promise<ClientCertificate> {
    const number = ++this.issued;
    const base = path.join(this.dir, `client-${number}`);
    const files = { keyFile: `${base}.key`, crtFile: `${base}.crt` };
    const extensions = ['basicConstraints=CA:FALSE', 'keyUsage=critical,digitalSignature', 'extendedKeyUsage=clientAuth'];
    if (options.altNames?.length) extensions.push(`subjectAltName=${options.altNames.join(',')}`);
    fs.writeFileSync(`${base}.ext`, `${extensions.join('\n')}\n`);
    const oids = Object.entries(options.oids ?? {}).map(([name, oid]) => `${name} = ${oid}`);
    fs.writeFileSync(`${base}.cnf`, ['oid_section = oids', '[oids]', ...oids, '[req]', 'distinguished_name = dn', '[dn]', ''].join('\n'));
    await run('openssl', [
      'req',
      '-new',
      '-config',
      `${base}.cnf`,
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      files.keyFile,
      '-out',
      `${base}.csr`,
      '-subj',
      options.subject,
      ...(options.multivalue ? ['-multivalue-rdn'] : []),
      '-utf8',
    ]);
    await run('openssl', [
      'x509',
      '-req',
      '-in',
      `${base}.csr`,
      '-CA',
      this.crtFile,
      '-CAkey',
      this.keyFile,
      '-set_serial',
      `0x${(0x1000 + number).toString(16)}a5`,
      '-days',
      '1',
      '-sha256',
      '-extfile',
      `${base}.ext`,
      '-out',
      files.crtFile,
    ]);
    return { ...files, key: fs.readFileSync(files.keyFile), cert: fs.readFileSync(files.crtFile) };
  }

  async revoke(certificate: ClientCertificate): Promise<void> {
    await run('openssl', ['ca', '-config', this.configFile, '-revoke', certificate.crtFile]);
  }

  /** Writes the CRL of every revocation so far to `file` (PEM). */
  async writeCrl(file: string): Promise<string> {
    await run('openssl', ['ca', '-config', this.configFile, '-gencrl', '-out', file]);
    return file;
  }
}

/** TLS client options presenting `certificate` (none when undefined), trusting the listener's own certificate. */
export function presenting(serverCrtFile: string, certificate?: ClientCertificate): { ca: Buffer; key?: Buffer; cert?: Buffer } {
  return { ca: fs.readFileSync(serverCrtFile), ...(certificate ? { key: certificate.key, cert: certificate.cert } : {}) };
}
