// Headers the proxies set or that frame the message: no identity header may take their names.

export const RESERVED_HEADERS = [
  'host', 'authorization', 'content-length', 'content-type', 'transfer-encoding', 'connection', 'keep-alive', 'upgrade', 'te', 'trailer',
  'proxy-authorization', 'proxy-connection', 'expect', 'cookie', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-forwarded-authorization',
];
