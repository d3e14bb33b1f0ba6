// Requires claims to equal configured values exactly (deep equality), with the Go messages.
import { isDeepStrictEqual } from 'node:util';
import type { ClaimsVerifier, PolicyInput } from './ClaimsVerifier';

export class StaticClaimsVerifier implements ClaimsVerifier {
  private readonly required: [string, unknown][];

  constructor(required: Record<string, unknown>) {
    this.required = Object.entries(required);
  }

  verify({ claims }: PolicyInput): string | undefined {
    for (const [name, value] of this.required) {
      if (!(name in claims)) return `Required claim not found: ${name}`;
      if (!isDeepStrictEqual(claims[name], value)) return `Claim did not have the required value: ${name}`;
    }
    return undefined;
  }
}
