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
// - A double of Keycloak's Admin REST API under /admin/realms/orthanc (roles, users paged with
//   first/max/briefRepresentation, users?q=api-key:V, users?username=U&exact=true, users/count,
//   users/{id}, users/{id}/role-mappings/realm/composite, users/{id}/groups), accepting only
//   tokens the provider issued to client `admin-cli`, and only within the realm-management roles
//   its token carries, checked as Keycloak checks them (query-users to list or search users,
//   view-users to read one user, its role mappings and groups, view-realm to list the roles).
//   Shapes follow Keycloak's RoleRepresentation, UserRepresentation and GroupRepresentation; the
//   data follows shared/compat-sample/fakes.py, plus one fixture user per problem
//   `auth-service users` finds (teacher, newcomer, auditor, intern).
// - Control: POST /__test/delay {"ms"}, POST /__test/revoke-admin-tokens (every admin token seen
//   so far is refused from then on), POST /__test/bloat {"bytes"} (user searches answer that many
//   more bytes, chunked without Content-Length), POST /__test/populate {"count"} (that many more
//   users, user-00001..., with roles and some api-keys), POST /__test/user-token {"username"}
//   (the access token Keycloak would issue the user: sub, preferred_username, name from first and
//   last names, realm_access.roles composite, groups as full paths), GET /__test/stats.
//
// Environment: PORT (0 = any free port), KEY_ID, ADMIN_CLI_SECRET, ADMIN_CLI_RIGHTS (the
// realm-management roles of admin-cli's service account, comma-separated; default the shipped
// realm's view-users,query-users,view-realm). Prints one JSON line {"port", "kid"} on stdout once
// listening.
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
const ADMIN_CLI_RIGHTS = (process.env.ADMIN_CLI_RIGHTS ?? 'view-users,query-users,view-realm')
  .split(',').filter(Boolean);

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
  { id: 'u-admin', username: 'admin', firstName: 'Admin', enabled: true, notBefore: 0, attributes: { 'api-key': ['key-admin-0001'] }, roles: ['admin-role'] },
  { id: 'u-doctor', username: 'doctor', firstName: 'Doctor', lastName: 'Who', enabled: true, notBefore: 0, attributes: { 'api-key': ['key-doctor-0002'] }, roles: ['doctor-role', 'external-role'], groups: ['/doctors', '/staff'] },
  { id: 'u-external', username: 'external', enabled: true, notBefore: 0, attributes: {}, roles: ['external-role'], groups: ['/externals'] },
  { id: 'u-disabled', username: 'disabled-user', enabled: false, notBefore: 0, attributes: { 'api-key': ['key-disabled-0003'] }, roles: ['doctor-role'] },
  { id: 'u-future', username: 'future-user', enabled: true, notBefore: 4102444800, attributes: { 'api-key': ['key-future-0004'] }, roles: ['doctor-role'] },
  { id: 'u-dup1', username: 'dup-one', enabled: true, notBefore: 0, attributes: { 'api-key': ['key-dup-0005'] }, roles: ['doctor-role'] },
  { id: 'u-dup2', username: 'dup-two', enabled: true, notBefore: 0, attributes: { 'api-key': ['key-dup-0005'] }, roles: ['admin-role'] },
  // One user per problem `auth-service users` finds (tests/api/users.rs).
  // A realm role the roles file does not map: no permission at all.
  { id: 'u-teacher', username: 'teacher', firstName: 'Tea', lastName: 'Cher', enabled: true, notBefore: 0, attributes: {}, roles: ['teacher-role'] },
  // Created, given no role: no permission at all.
  { id: 'u-newcomer', username: 'newcomer', enabled: true, notBefore: 0, attributes: {}, roles: [] },
  // A role with permissions and no label (in the users tests' roles file): no study list.
  { id: 'u-auditor', username: 'auditor', lastName: 'Auditor', enabled: true, notBefore: 0, attributes: {}, roles: ['auditor-role'], groups: ['/staff/audit'] },
  // A restricted role and a role granting everything.
  { id: 'u-intern', username: 'intern', firstName: 'Ivan', lastName: 'Intern', enabled: true, notBefore: 0, attributes: { 'api-key': ['key-intern-0006'] }, roles: ['external-role', 'admin-role'] },
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
    USERS.push({ id: u.id, username: u.username, firstName: u.firstName, lastName: u.lastName,
      enabled: u.enabled !== false, notBefore: 0, attributes: u.attributes || {}, roles,
      groups: u.groups || [] });
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
// Users added by POST /__test/populate.
const generated = [];
const allUsers = () => [...USERS, ...generated];
const roleRep = (name, composite) => ({ id: `r-${name}`, name, description: '', composite, clientRole: false, containerId: 'orthanc' });
const userRep = ({ roles, groups, ...u }) => ({ ...u, emailVerified: false, createdTimestamp: 1700000000000, totp: false });
// Keycloak's brief representation leaves out the attributes, the required actions and notBefore.
const briefRep = (user) => {
  const { attributes, notBefore, ...brief } = userRep(user);
  return brief;
};
const compositeRoles = (user) => [...user.roles, ...DEFAULT_COMPOSITE];
const groupRep = (path) => ({ id: `g${path.replaceAll('/', '-')}`, name: path.split('/').pop(), path, subGroups: [] });
// Keycloak's full-name mapper: the non-empty first and last names, joined by a space.
const fullName = (user) => [user.firstName, user.lastName].filter((p) => p).join(' ');

const stats = {
  jwks: 0, token: 0, admin: 0, discovery: 0,
  // GET users listings (no search), the `max` of each, those asking for brief representations.
  userPages: 0, pageSizes: [], briefPages: 0,
  roleMappings: 0, forbidden: 0,
  // The most admin-API requests in progress at once.
  maxInFlight: 0,
};
let inFlight = 0;
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

// admin-cli's service-account token carries its realm-management roles, as Keycloak's does.
const ADMIN_CLI_CLAIMS = { resource_access: { 'realm-management': { roles: ADMIN_CLI_RIGHTS } } };

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
    if (token.clientId === 'admin-cli') return ADMIN_CLI_CLAIMS;
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

// What Keycloak asks of the caller (AdminRoles): any of these realm-management roles.
const QUERY_USERS = ['query-users', 'view-users', 'manage-users'];
const VIEW_USERS = ['view-users', 'manage-users'];
const LIST_ROLES = ['view-realm', 'manage-realm', 'query-users', 'query-groups', 'query-clients', 'query-realms'];

// Users matching GET /users' filters (q, username, search, with exact), by username, as Keycloak
// sorts them.
function matchingUsers(params) {
  const exact = params.get('exact') === 'true';
  const wanted = {};
  for (const part of (params.get('q') || '').split(' ')) {
    const i = part.indexOf(':');
    if (i > 0) wanted[part.slice(0, i)] = part.slice(i + 1);
  }
  const like = (value, term) => (exact ? value === term : (value || '').toLowerCase().includes(term.toLowerCase()));
  const username = params.get('username');
  const search = params.get('search');
  return allUsers()
    .filter((u) => Object.entries(wanted).every(([k, v]) => (u.attributes[k] || []).some((x) => like(x, v))))
    .filter((u) => username == null || like(u.username, username.toLowerCase()))
    .filter((u) => search == null || [u.username, u.firstName, u.lastName].some((f) => f && like(f, search)))
    .sort((a, b) => (a.username < b.username ? -1 : a.username > b.username ? 1 : 0));
}

async function adminApi(req, res, url) {
  stats.admin += 1;
  const token = (req.headers.authorization || '').replace(/^Bearer /, '');
  let rights;
  try {
    const { payload } = await jose.jwtVerify(token, publicKey, { issuer });
    if (payload.client_id !== 'admin-cli' || revokedAdminTokens.has(token)) throw new Error('not admin');
    rights = payload.resource_access?.['realm-management']?.roles || [];
  } catch {
    return send(res, 401, { error: 'HTTP 401 Unauthorized' });
  }
  seenAdminTokens.add(token);
  const allowed = (any) => {
    if (any.some((r) => rights.includes(r))) return true;
    stats.forbidden += 1;
    send(res, 403, { error: 'HTTP 403 Forbidden' });
    return false;
  };
  const rest = url.pathname.slice(ADMIN.length).replace(/\/$/, '');
  if (rest === '/roles') {
    if (!allowed(LIST_ROLES)) return undefined;
    return send(res, 200, ROLES.map(([n, c]) => roleRep(n, c)));
  }
  if (rest === '/users/count') {
    if (!allowed(QUERY_USERS)) return undefined;
    return send(res, 200, matchingUsers(url.searchParams).length);
  }
  if (rest === '/users') {
    if (!allowed(QUERY_USERS)) return undefined;
    const params = url.searchParams;
    const found = matchingUsers(params);
    const first = Math.max(0, Number(params.get('first') || 0));
    const max = params.has('max') ? Number(params.get('max')) : 100;
    const brief = params.get('briefRepresentation') === 'true';
    if (!params.has('q') && !params.has('username') && !params.has('search')) {
      stats.userPages += 1;
      stats.pageSizes.push(max);
      if (brief) stats.briefPages += 1;
    }
    const page = found.slice(first, max < 0 ? undefined : first + max).map(brief ? briefRep : userRep);
    if (bloatBytes > 0) {
      const padding = { ...userRep(USERS[2]), id: 'u-padding', attributes: { padding: ['x'.repeat(bloatBytes)] } };
      const text = JSON.stringify([...page, padding]);
      res.writeHead(200, { 'content-type': 'application/json' });
      for (let i = 0; i < text.length; i += 65536) res.write(text.slice(i, i + 65536));
      return res.end();
    }
    return send(res, 200, page);
  }
  const parts = rest.split('/');
  if (parts[1] === 'users' && parts.length >= 3) {
    if (!allowed(VIEW_USERS)) return undefined;
    const user = allUsers().find((u) => u.id === decodeURIComponent(parts[2]));
    if (!user) return send(res, 404, { error: 'User not found' });
    const sub = parts.slice(3).join('/');
    if (sub === '') return send(res, 200, userRep(user));
    if (sub === 'role-mappings/realm/composite') {
      stats.roleMappings += 1;
      const composite = new Map(ROLES);
      return send(res, 200, compositeRoles(user).map((n) => roleRep(n, composite.get(n) || false)));
    }
    if (sub === 'groups') return send(res, 200, (user.groups || []).map(groupRep));
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
  if (url.pathname === '/__test/populate') {
    const { count = 0 } = JSON.parse(body || '{}');
    const roleSets = [['doctor-role'], ['external-role'], ['doctor-role', 'external-role']];
    for (let i = generated.length + 1; generated.length < count; i += 1) {
      const n = String(i).padStart(5, '0');
      generated.push({
        id: `u-gen-${n}`, username: `user-${n}`, firstName: 'User', lastName: n, enabled: true, notBefore: 0,
        attributes: i % 10 === 0 ? { 'api-key': [`gen-key-${n}`] } : {}, roles: roleSets[i % roleSets.length],
      });
    }
    return send(res, 200, { users: allUsers().length });
  }
  if (url.pathname === '/__test/user-token') {
    const { username } = JSON.parse(body || '{}');
    const user = allUsers().find((u) => u.username === username);
    if (!user) return send(res, 404, { error: 'no such user' });
    const now = Math.floor(Date.now() / 1000);
    const name = fullName(user);
    const claims = {
      iss: issuer, aud: 'account', iat: now, exp: now + 300, typ: 'Bearer', azp: 'orthanc',
      sub: user.id, preferred_username: user.username, ...(name ? { name } : {}),
      realm_access: { roles: compositeRoles(user) }, groups: user.groups || [],
    };
    const jwt = await new jose.SignJWT(claims)
      .setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid: KEY_ID })
      .sign(privateKey);
    return send(res, 200, { token: jwt });
  }
  if (url.pathname === '/__test/sign') {
    // `omit` names claims to leave out of the usual ones (e.g. ["exp"]: a token that never expires).
    const { header = {}, claims = {}, omit = [] } = JSON.parse(body || '{}');
    const now = Math.floor(Date.now() / 1000);
    // A header field set to null is left out (e.g. {"kid": null}: a token without key id).
    const protectedHeader = Object.fromEntries(Object.entries({ alg: 'RS256', typ: 'JWT', kid: KEY_ID, ...header })
      .filter(([, v]) => v !== null));
    const payload = { iss: issuer, aud: 'account', iat: now, exp: now + 300, ...claims };
    for (const name of omit) delete payload[name];
    const jwt = await new jose.SignJWT(payload)
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
    if (url.pathname.startsWith(`${ADMIN}/`)) {
      inFlight += 1;
      stats.maxInFlight = Math.max(stats.maxInFlight, inFlight);
      try {
        if (delayMs) await new Promise((r) => setTimeout(r, delayMs));
        return await adminApi(req, res, url);
      } finally {
        inFlight -= 1;
      }
    }
    if (delayMs) await new Promise((r) => setTimeout(r, delayMs));
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
