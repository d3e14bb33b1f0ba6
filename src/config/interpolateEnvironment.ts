// `${VAR}` in the YAML's values, replaced from the environment at load (as oauth2-proxy and
// Pomerium allow), so one file serves every deployment and secrets stay out of it.
import YAML from 'yaml';
import { ConfigError } from './ConfigError';

/** `${NAME}`, `${NAME:-fallback}`, and `$${…}`, which stands for a literal `${…}`. */
const REFERENCE = /\$(\$?)\{([^}]*)\}/g;
const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** A number YAML 1.1 would read as octal: kept as text, the way file modes are written ("0660"). */
const OCTAL_LOOKING = /^0[0-7]+$/;

function substitute(text: string, path: string, env: NodeJS.ProcessEnv): string {
  return text.replace(REFERENCE, (whole, escaped: string, inner: string) => {
    if (escaped) return whole.slice(1);
    const [, name, fallback] = /^([^:]*)(?::-(.*))?$/s.exec(inner)!;
    if (!NAME.test(name)) {
      throw new ConfigError(path, `\${${inner}} is not an environment variable reference: write \${NAME} or \${NAME:-default} (NAME of letters, digits and _), or $\${…} for a literal \${…}`);
    }
    const value = env[name];
    if (value !== undefined) return value;
    if (fallback !== undefined) return fallback;
    throw new ConfigError(path, `the environment variable ${name} is not set (the value is ${JSON.stringify(text)}): set it, or write \${${name}:-default} to give a default`);
  });
}

/**
 * A value that is one reference alone (`workers: ${WORKERS}`) takes the type its text has in
 * YAML: a number, a boolean or null; anything else stays a string (never a mapping or list).
 */
function typed(text: string): unknown {
  if (OCTAL_LOOKING.test(text)) return text;
  try {
    const value: unknown = YAML.parse(text, { version: '1.1' });
    return typeof value === 'number' || typeof value === 'boolean' || value === null ? value : text;
  } catch {
    return text;
  }
}

/** Returns `value` with every `${VAR}` in its strings replaced; `path` locates the errors. */
export function interpolateEnvironment(value: unknown, path: string, env: NodeJS.ProcessEnv = process.env): unknown {
  if (typeof value === 'string') {
    if (!value.includes('${')) return value;
    const text = substitute(value, path, env);
    return /^\$\{[^}]*\}$/.test(value) ? typed(text) : text;
  }
  if (Array.isArray(value)) return value.map((item, index) => interpolateEnvironment(item, `${path}[${index}]`, env));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, interpolateEnvironment(item, `${path}.${key}`, env)]));
  }
  return value;
}
