// Test support for auth-service: a loopback stand-in for one Keycloak realm ("orthanc").
//
// - A real OpenID provider (the `oidc-provider` package) mounted at /realms/orthanc, so discovery,
//   JWKS and the token endpoint are the real thing: issuer http://127.0.0.1:PORT/realms/orthanc,
//   RS256 access tokens in JWT format with audience `account`, `realm_access.roles` and `groups`
//   added per client. Tests get real user tokens with the client-credentials grant of one client
//   per test user (doctor-app, admin-app, ...): simpler than driving a browser login, and the
//   token is issued and signed by the provider itself.
// - POST /__test/sign signs any claims with the provider's own current key, for the cases a
//   well-behaved provider never issues (expired, wrong issuer, wrong audience).
// - A double of Keycloak's Admin REST API under /admin/realms/orthanc (roles, users/{id},
//   users?q=api-key:V, users/{id}/role-mappings/realm/composite), accepting only tokens the
//   provider issued to client `admin-cli`. Shapes follow Keycloak's RoleRepresentation and
//   UserRepresentation; the data follows shared/compat-sample/fakes.py.
// - Control: POST /__test/delay {"ms"}, POST /__test/revoke-admin-tokens (every admin token seen
//   so far is refused from then on), POST /__test/bloat {"bytes"} (user searches answer that many
//   more bytes, chunked without Content-Length), GET /__test/stats.
//
// Environment: PORT (0 = any free port), KEY_ID, ADMIN_CLI_SECRET. Prints one JSON line
// {"port", "kid"} on stdout once listening.
//
// The same script stands in for Keycloak in the compose stacks' smoke test
// (minimal-setup/stand-ins/keycloak), with these settings, none of which the tests set:
// - HOST: the address to listen on (default 127.0.0.1);
// - BASE_PATH: Keycloak's KC_HTTP_RELATIVE_PATH (e.g. /keycloak), before /realms and /admin;
// - ISSUER_BASE: Keycloak's KC_HOSTNAME (e.g. http://pacs.example.org/keycloak): tokens' issuer
//   is ISSUER_BASE/realms/orthanc, while discovery names the other endpoints after the host each
//   request used, as Keycloak does with KC_HOSTNAME_BACKCHANNEL_DYNAMIC;
// - REALM_FILE: a realm export (minimal-setup/keycloak/realm-orthanc.json) whose users, roles,
//   groups and admin-cli secret replace the built-in ones, its ${VAR} placeholders filled from
//   the environment as Keycloak's import does. Its users log in through one confidential client
//   each, `stand-in-login-<username>`, whose secret is the user's password (what a browser login
//   with that password would prove);
// - MANAGEMENT_PORT: Keycloak's management port, answering BASE_PATH/health/ready.
import http from 'node:http';
import { readFileSync } from 'node:fs';
import Provider from 'oidc-provider';
import * as jose from 'jose';

const BASE_PATH = (process.env.BASE_PATH || '').replace(/\/$/, '');
const REALM = `${BASE_PATH}/realms/orthanc`;
const ADMIN = `${BASE_PATH}/admin/realms/orthanc`;
const KEY_ID = process.env.KEY_ID || 'realm-key-1';
// A realm export with Keycloak's ${VAR} placeholders filled from the environment.
const realmFile = process.env.REALM_FILE
  ? JSON.parse(readFileSync(process.env.REALM_FILE, 'utf8')
    .replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (whole, name) => process.env[name] ?? whole))
  : null;
const ADMIN_CLI_SECRET = realmFile
  ? realmFile.clients.find((c) => c.clientId === 'admin-cli').secret
  : process.env.ADMIN_CLI_SECRET || 'admin-cli-secret';

const { privateKey } = await jose.generateKeyPair('RS256', { extractable: true });
const privateJwk = { ...(await jose.exportJWK(privateKey)), kid: KEY_ID, alg: 'RS256', use: 'sig' };
const publicKey = await jose.importJWK(
  { kty: privateJwk.kty, n: privateJwk.n, e: privateJwk.e, alg: 'RS256' }, 'RS256');

// One confidential client per test user: what its tokens say about the user.
const PERSONAS = {
  'doctor-app': { name: 'Doctor Who', preferred_username: 'doctor',
    realm_access: { roles: ['default-roles-orthanc', 'offline_access', 'doctor-role', 'external-role'] },
    groups: ['/doctors', '/staff'] },
  'admin-app': { preferred_username: 'admin',
    realm_access: { roles: ['admin-role'] }, groups: [] },
  'nobody-app': { preferred_username: 'nobody',
    realm_access: { roles: ['offline_access'] } },
};

const ROLES = [
  ['admin-role', false], ['doctor-role', false], ['external-role', false], ['teacher-role', false],
  ['auditor-role', false], ['default-roles-orthanc', true], ['offline_access', false],
  ['uma_authorization', false],
];
const DEFAULT_COMPOSITE = ['default-roles-orthanc', 'offline_access', 'uma_authorization'];
const USERS = [
  { id: 'u-admin', username: 'admin', enabled: true, notBefore: 0, attributes: { 'api-key': ['key-admin-0001'] }, roles: ['admin-role'] },
  { id: 'u-doctor', username: 'doctor', enabled: true, notBefore: 0, attributes: { 'api-key': ['key-doctor-0002'] }, roles: ['doctor-role', 'external-role'] },
  { id: 'u-external', username: 'external', enabled: true, notBefore: 0, attributes: {}, roles: ['external-role'] },
  { id: 'u-disabled', username: 'disabled-user', enabled: false, notBefore: 0, attributes: { 'api-key': ['key-disabled-0003'] }, roles: ['doctor-role'] },
  { id: 'u-future', username: 'future-user', enabled: true, notBefore: 4102444800, attributes: { 'api-key': ['key-future-0004'] }, roles: ['doctor-role'] },
  { id: 'u-dup1', username: 'dup-one', enabled: true, notBefore: 0, attributes: { 'api-key': ['key-dup-0005'] }, roles: ['doctor-role'] },
  { id: 'u-dup2', username: 'dup-two', enabled: true, notBefore: 0, attributes: { 'api-key': ['key-dup-0005'] }, roles: ['admin-role'] },
];
if (realmFile) {
  // The realm file's users, roles and groups replace the built-in ones.
  const composites = Object.fromEntries(realmFile.roles.realm
    .map((r) => [r.name, (r.composites && r.composites.realm) || []]));
  ROLES.splice(0, ROLES.length, ...realmFile.roles.realm.map((r) => [r.name, !!r.composite]));
  DEFAULT_COMPOSITE.splice(0, DEFAULT_COMPOSITE.length, 'default-roles-orthanc',
    ...(composites['default-roles-orthanc'] || []));
  for (const id of Object.keys(PERSONAS)) delete PERSONAS[id];
  USERS.splice(0, USERS.length);
  for (const u of realmFile.users.filter((user) => !user.serviceAccountClientId)) {
    const roles = (u.realmRoles || []).filter((r) => r !== 'default-roles-orthanc');
    USERS.push({ id: u.id, username: u.username, enabled: u.enabled !== false, notBefore: 0,
      attributes: u.attributes || {}, roles });
    const password = (u.credentials || []).find((c) => c.type === 'password');
    if (password) {
      PERSONAS[`stand-in-login-${u.username}`] = {
        secret: password.value, preferred_username: u.username,
        name: [u.firstName, u.lastName].filter(Boolean).join(' '), email: u.email,
        realm_access: { roles: [...new Set([...(u.realmRoles || []), ...DEFAULT_COMPOSITE])] },
        groups: u.groups || [],
      };
    }
  }
}
const roleRep = (name, composite) => ({ id: `r-${name}`, name, description: '', composite, clientRole: false, containerId: 'orthanc' });
const userRep = ({ roles, ...u }) => ({ ...u, emailVerified: false, createdTimestamp: 1700000000000, totp: false });

const stats = { jwks: 0, token: 0, admin: 0, discovery: 0 };
let delayMs = 0;
let bloatBytes = 0;
const seenAdminTokens = new Set();
const revokedAdminTokens = new Set();

const server = http.createServer();
await new Promise((resolve) => server.listen(Number(process.env.PORT || 0), process.env.HOST || '127.0.0.1', resolve));
const port = server.address().port;
const issuer = process.env.ISSUER_BASE
  ? `${process.env.ISSUER_BASE.replace(/\/$/, '')}/realms/orthanc`
  : `http://127.0.0.1:${port}${REALM}`;

const clients = Object.entries(PERSONAS).map(([id, persona]) => ({
  client_id: id, client_secret: persona.secret || `${id}-secret`, grant_types: ['client_credentials'],
  response_types: [], redirect_uris: [],
}));
clients.push({ client_id: 'admin-cli', client_secret: ADMIN_CLI_SECRET,
  grant_types: ['client_credentials'], response_types: [], redirect_uris: [] });

const provider = new Provider(issuer, {
  clients,
  jwks: { keys: [privateJwk] },
  routes: { jwks: '/protocol/openid-connect/certs', token: '/protocol/openid-connect/token' },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: false },
    revocation: { enabled: false },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => 'urn:keycloak:account',
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({
        scope: 'profile', audience: 'account', accessTokenTTL: 300,
        accessTokenFormat: 'jwt', jwt: { sign: { alg: 'RS256' } },
      }),
    },
  },
  extraTokenClaims: (ctx, token) => {
    const { secret, ...claims } = PERSONAS[token.clientId] || {};
    return claims;
  },
});
const callback = provider.callback();

const send = (res, status, body) => {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
};
const readBody = (req) => new Promise((resolve) => {
  let data = '';
  req.on('data', (c) => { data += c; });
  req.on('end', () => resolve(data));
});

async function adminApi(req, res, url) {
  stats.admin += 1;
  const token = (req.headers.authorization || '').replace(/^Bearer /, '');
  try {
    const { payload } = await jose.jwtVerify(token, publicKey, { issuer });
    if (payload.client_id !== 'admin-cli' || revokedAdminTokens.has(token)) throw new Error('not admin');
  } catch {
    return send(res, 401, { error: 'HTTP 401 Unauthorized' });
  }
  seenAdminTokens.add(token);
  const rest = url.pathname.slice(ADMIN.length).replace(/\/$/, '');
  if (rest === '/roles') return send(res, 200, ROLES.map(([n, c]) => roleRep(n, c)));
  if (rest === '/users') {
    const wanted = {};
    for (const part of (url.searchParams.get('q') || '').split(' ')) {
      const i = part.indexOf(':');
      if (i > 0) wanted[part.slice(0, i)] = part.slice(i + 1);
    }
    const found = USERS.filter((u) => Object.entries(wanted)
      .every(([k, v]) => (u.attributes[k] || []).includes(v))).map(userRep);
    if (bloatBytes > 0) {
      const padding = { ...userRep(USERS[2]), id: 'u-padding', attributes: { padding: ['x'.repeat(bloatBytes)] } };
      const text = JSON.stringify([...found, padding]);
      res.writeHead(200, { 'content-type': 'application/json' });
      for (let i = 0; i < text.length; i += 65536) res.write(text.slice(i, i + 65536));
      return res.end();
    }
    return send(res, 200, found);
  }
  const parts = rest.split('/');
  if (parts[1] === 'users' && parts.length >= 3) {
    const user = USERS.find((u) => u.id === decodeURIComponent(parts[2]));
    if (!user) return send(res, 404, { error: 'User not found' });
    if (parts.length === 3) return send(res, 200, userRep(user));
    if (parts.slice(3).join('/') === 'role-mappings/realm/composite') {
      const composite = new Map(ROLES);
      return send(res, 200, [...user.roles, ...DEFAULT_COMPOSITE].map((n) => roleRep(n, composite.get(n) || false)));
    }
  }
  return send(res, 404, { error: 'Unable to find matching target resource method' });
}

async function control(req, res, url) {
  const body = req.method === 'POST' ? await readBody(req) : '';
  if (url.pathname === '/__test/stats') return send(res, 200, stats);
  if (url.pathname === '/__test/delay') {
    delayMs = JSON.parse(body || '{}').ms || 0;
    return send(res, 200, { delayMs });
  }
  if (url.pathname === '/__test/revoke-admin-tokens') {
    for (const t of seenAdminTokens) revokedAdminTokens.add(t);
    return send(res, 200, { revoked: revokedAdminTokens.size });
  }
  if (url.pathname === '/__test/bloat') {
    bloatBytes = JSON.parse(body || '{}').bytes || 0;
    return send(res, 200, { bloatBytes });
  }
  if (url.pathname === '/__test/sign') {
    const { header = {}, claims = {} } = JSON.parse(body || '{}');
    const now = Math.floor(Date.now() / 1000);
    // A header field set to null is left out (e.g. {"kid": null}: a token without key id).
    const protectedHeader = Object.fromEntries(Object.entries({ alg: 'RS256', typ: 'JWT', kid: KEY_ID, ...header })
      .filter(([, v]) => v !== null));
    const jwt = await new jose.SignJWT({ iss: issuer, aud: 'account', iat: now, exp: now + 300, ...claims })
      .setProtectedHeader(protectedHeader)
      .sign(privateKey);
    return send(res, 200, { token: jwt });
  }
  return send(res, 404, { error: 'unknown control route' });
}

server.on('request', async (req, res) => {
  const url = new URL(req.url, issuer);
  try {
    if (url.pathname.startsWith('/__test/')) return await control(req, res, url);
    if (delayMs) await new Promise((r) => setTimeout(r, delayMs));
    if (url.pathname.startsWith(`${ADMIN}/`)) return await adminApi(req, res, url);
    if (url.pathname.startsWith(`${REALM}/`)) {
      if (url.pathname.endsWith('/certs')) stats.jwks += 1;
      if (url.pathname.endsWith('/token')) stats.token += 1;
      if (url.pathname.includes('/.well-known/')) stats.discovery += 1;
      req.originalUrl = req.url;
      req.url = req.url.slice(REALM.length);
      return callback(req, res);
    }
    return send(res, 404, { error: 'not found' });
  } catch (e) {
    return send(res, 500, { error: String(e) });
  }
});

if (process.env.MANAGEMENT_PORT) {
  // Keycloak's readiness probe on its management port.
  http.createServer((req, res) => send(res, req.url === `${BASE_PATH}/health/ready` ? 200 : 404,
    { status: 'UP' })).listen(Number(process.env.MANAGEMENT_PORT), process.env.HOST || '127.0.0.1');
}

process.stdout.write(`${JSON.stringify({ port, kid: KEY_ID })}\n`);
