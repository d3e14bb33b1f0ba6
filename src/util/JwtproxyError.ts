// The root of the product's errors: a stable `code` that callers and logs switch on, and the
// class's own name in `name`, set here once so that no subclass has to repeat it.

export abstract class JwtproxyError extends Error {
  /** Stable across releases (`ERR_…`): what callers switch on, never the message. */
  abstract readonly code: string;

  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}
