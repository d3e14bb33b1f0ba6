// `jwtproxy generate-ca`: a new MITM certificate authority for the signer proxy's ca_key_file/ca_crt_file.
import { X509Certificate } from 'node:crypto';
import { generateCertificateAuthority } from '../proxy/mitm/CertificateAuthority';
import type { KeyAlgorithm } from '../proxy/mitm/generatePrivateKey';
import { UsageError } from './parseArgs';
import type { ToolCommand } from './ToolCommand';
import { ToolFlags } from './ToolFlags';
import { writeOutputFiles } from './writeOutputFiles';

const USAGE = `usage: jwtproxy generate-ca -out-key ca.key -out-cert ca.crt [-cn NAME] [-days N] [-algorithm ec|rsa] [-force]
  Makes the certificate authority the signer proxy forges HTTPS certificates with
  (signer_proxy.ca_key_file and ca_crt_file); the signer's clients must trust ca.crt.
  -out-key FILE      the CA private key, PKCS#8 PEM, written with mode 0600
  -out-cert FILE     the CA certificate, PEM
  -cn NAME           its common name (default "jwtproxy MITM CA")
  -days N            how long it is valid (default 3650)
  -algorithm ec|rsa  an EC P-256 key (default) or RSA 2048
  -force             overwrite existing files`;

export const generateCa: ToolCommand = {
  name: 'generate-ca',
  usage: USAGE,
  async run(line, io) {
    const flags = new ToolFlags(line, ['out-key', 'out-cert', 'cn', 'days', 'algorithm', 'force']);
    flags.positionals(0);
    const keyFile = flags.required('out-key', 'where to write the CA private key');
    const certFile = flags.required('out-cert', 'where to write the CA certificate');
    if (keyFile === certFile) throw new UsageError('-out-key and -out-cert must be different files');
    const commonName = flags.string('cn', 'jwtproxy MITM CA');
    if (commonName.length > 64) throw new UsageError('-cn has at most 64 characters');
    const days = flags.integer('days', 3650, 1, 36_500);
    const algorithm = flags.choice<KeyAlgorithm>('algorithm', ['ec', 'rsa'], 'ec');

    const { keyPem, certPem } = await generateCertificateAuthority({ commonName, days, algorithm });
    await writeOutputFiles(
      [
        { path: keyFile, content: keyPem, mode: 0o600 },
        { path: certFile, content: certPem, mode: 0o644 },
      ],
      flags.boolean('force'),
    );
    const certificate = new X509Certificate(certPem);
    io.stdout(
      [
        `wrote the CA private key to ${keyFile} (mode 0600) and its certificate to ${certFile}`,
        `subject: ${certificate.subject.replace(/\n/g, ', ')}`,
        `valid until: ${new Date(certificate.validTo).toISOString()}`,
        `SHA-256 fingerprint: ${certificate.fingerprint256}`,
        '',
      ].join('\n'),
    );
    return 0;
  },
};
