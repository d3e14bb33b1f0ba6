// A CEL rule over the policy inputs (`claims`, `request`): the request passes when the
// expression is true. Anything else — false, another type, an evaluation error such as an
// absent claim — refuses it with the rule's message: a policy fails closed.
import type { CelExpression } from '../policy/CelExpression';
import type { ClaimsVerifier, PolicyInput } from './ClaimsVerifier';

export class CelClaimsVerifier implements ClaimsVerifier {
  constructor(
    private readonly expression: CelExpression,
    private readonly message: string,
  ) {}

  verify(input: PolicyInput): string | undefined {
    try {
      return this.expression.evaluate(input as unknown as Record<string, unknown>) === true ? undefined : this.message;
    } catch {
      return this.message;
    }
  }
}
