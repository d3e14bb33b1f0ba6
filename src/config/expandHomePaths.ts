// `~` at the start of a file or folder path in the YAML means the home folder, as in a shell:
// `key_folder: ~/.config/jwtproxy` must not create a folder literally named "~".
import * as os from 'node:os';
import { ConfigError } from './ConfigError';

/** The keys whose values are paths on this machine (the `*_file` siblings of secrets included). */
const PATH_KEY = /(^|_)(file|files|path|folder|script|certificates)$/;
/** Keys ending like paths whose values are URL paths, not files. */
const URL_PATH_KEYS = new Set(['public_base_path', 'audience_from_path']);
/** Keys whose values may be `unix:<path>`. */
const ADDRESS_KEYS = new Set(['listen_addr', 'upstream']);

function expand(text: string, path: string, home: string): string {
  if (!text.startsWith('~')) return text;
  if (text === '~' || text.startsWith('~/')) return home + text.slice(1);
  throw new ConfigError(path, `${JSON.stringify(text)}: only ~ and ~/… (the home folder of the user running jwtproxy) are expanded; write the full path`);
}

function expandValue(key: string, value: unknown, path: string, home: string): unknown {
  const one = (item: unknown, where: string): unknown => {
    if (typeof item !== 'string') return expandHomePaths(item, where, home);
    if (ADDRESS_KEYS.has(key)) return item.startsWith('unix:~') ? `unix:${expand(item.slice('unix:'.length), where, home)}` : item;
    return PATH_KEY.test(key) && !URL_PATH_KEYS.has(key) ? expand(item, where, home) : item;
  };
  return Array.isArray(value) ? value.map((item, index) => one(item, `${path}[${index}]`)) : one(value, path);
}

/** Returns `value` with `~` expanded in every path it holds; `path` locates the errors. */
export function expandHomePaths(value: unknown, path: string, home: string = os.homedir()): unknown {
  if (Array.isArray(value)) return value.map((item, index) => expandHomePaths(item, `${path}[${index}]`, home));
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, expandValue(key, item, `${path}.${key}`, home)]));
}
