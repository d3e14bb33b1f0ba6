// The registry of claims verifier types: for each `claims_verifiers[].type`, how its
// options are read and how it is built. The config parser and the factory both read it.
import type { ConfigNode } from '../config/ConfigNode';
import type { ClaimsVerifierConfig } from '../config/types';
import { CelExpression } from '../policy/CelExpression';
import { CelClaimsVerifier } from './CelClaimsVerifier';
import type { ClaimsVerifier } from './ClaimsVerifier';
import { StaticClaimsVerifier } from './StaticClaimsVerifier';

type ConfigOf<T extends ClaimsVerifierConfig['type']> = Extract<ClaimsVerifierConfig, { type: T }>;

interface ClaimsVerifierType<T extends ClaimsVerifierConfig['type']> {
  /** `node` is the claims_verifiers entry; its `options` are the type's own. */
  parse(node: ConfigNode): ConfigOf<T>;
  create(config: ConfigOf<T>): ClaimsVerifier;
}

const staticType: ClaimsVerifierType<'static'> = {
  parse: (node) => {
    const options = node.raw('options') ?? {};
    if (typeof options !== 'object' || Array.isArray(options)) node.fail('options', 'expected a mapping of claim names to required values');
    return { type: 'static', claims: options as Record<string, unknown> };
  },
  create: (config) => new StaticClaimsVerifier(config.claims),
};

const cel: ClaimsVerifierType<'cel'> = {
  parse: (node) => {
    const options = node.child('options');
    const source = options.requiredString('expression', 'a CEL expression that is true for requests to let through, e.g. "staff" in claims.groups');
    const expression = CelExpression.compile(source, options.at('expression'));
    const message = options.string('message', `the rule ${source} does not hold`);
    options.done();
    return { type: 'cel', expression, message };
  },
  create: (config) => new CelClaimsVerifier(config.expression, config.message),
};

export const CLAIMS_VERIFIER_TYPES: { [T in ClaimsVerifierConfig['type']]: ClaimsVerifierType<T> } = { static: staticType, cel };
export const CLAIMS_VERIFIER_NAMES = Object.keys(CLAIMS_VERIFIER_TYPES) as ClaimsVerifierConfig['type'][];

export function createClaimsVerifier(config: ClaimsVerifierConfig): ClaimsVerifier {
  return (CLAIMS_VERIFIER_TYPES[config.type] as ClaimsVerifierType<typeof config.type>).create(config as never);
}
