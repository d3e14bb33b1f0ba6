// The CA certificates that replace the system roots for a proxy's own TLS connections.
import * as fs from 'node:fs';

/** undefined (the system roots) when no file is given; the PEM texts otherwise. */
export function readTrustedCertificates(files: string[], option: string): string[] | undefined {
  if (files.length === 0) return undefined;
  return files.map((file) => {
    try {
      return fs.readFileSync(file, 'utf8');
    } catch (error) {
      throw new Error(`cannot read ${option} file ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
  });
}
