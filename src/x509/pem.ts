// PEM blocks (RFC 7468) of one label, as DER: a file may hold several certificates or CRLs.

/** The DER of every `-----BEGIN <label>-----` block in `text`, in order. */
export function pemBlocks(text: string, label: string): Buffer[] {
  const pattern = new RegExp(`-----BEGIN ${label}-----([A-Za-z0-9+/=\\s]*?)-----END ${label}-----`, 'g');
  return [...text.matchAll(pattern)].map((match) => Buffer.from(match[1].replace(/\s+/g, ''), 'base64'));
}

/** A PEM block of `label` around `der`, 64 characters a line. */
export function pemBlock(der: Buffer, label: string): string {
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}
