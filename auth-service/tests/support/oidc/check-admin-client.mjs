// Test support: drives the admin-API double of realm.mjs with Keycloak's own npm client
// (@keycloak/keycloak-admin-client), unchanged, so the double keeps Keycloak's URL layout and
// representation shapes. Calls exactly what auth-service calls (src/keycloak/admin.rs: api-key
// search, a user, its composite realm roles and groups, the realm roles, the user list paged with
// first/max) and checks the fields it reads, with Keycloak's types.
//
// Usage: node check-admin-client.mjs BASE_URL ADMIN_CLI_SECRET
//   BASE_URL is the server root (http://127.0.0.1:PORT), as for a real Keycloak.
// Prints one line per check; exits 1 with the reason at the first failure.
import KcAdminClient from '@keycloak/keycloak-admin-client';

const [baseUrl, clientSecret] = process.argv.slice(2);
if (!baseUrl || !clientSecret) {
  console.error('usage: node check-admin-client.mjs BASE_URL ADMIN_CLI_SECRET');
  process.exit(2);
}

function fail(message) {
  console.error(`check-admin-client: FAILED: ${message}`);
  process.exit(1);
}
const show = (value) => JSON.stringify(value);
function expectType(where, object, field, type, { optional = false } = {}) {
  const value = object?.[field];
  if (value === undefined && optional) return;
  const actual = Array.isArray(value) ? 'array' : value === null ? 'null' : typeof value;
  if (actual !== type) fail(`${where}.${field} is ${actual} (${show(value)}), Keycloak sends a ${type}`);
}
// UserRepresentation as auth-service reads it: id, username, enabled, notBefore, attributes
// (every value an array of strings); firstName/lastName are optional strings in Keycloak.
function checkUser(where, user) {
  expectType(where, user, 'id', 'string');
  expectType(where, user, 'username', 'string');
  expectType(where, user, 'enabled', 'boolean');
  expectType(where, user, 'notBefore', 'number', { optional: true });
  expectType(where, user, 'firstName', 'string', { optional: true });
  expectType(where, user, 'lastName', 'string', { optional: true });
  expectType(where, user, 'attributes', 'object', { optional: true });
  for (const [name, values] of Object.entries(user.attributes ?? {})) {
    if (!Array.isArray(values) || !values.every((v) => typeof v === 'string')) {
      fail(`${where}.attributes["${name}"] is ${show(values)}, Keycloak sends an array of strings`);
    }
  }
}
// RoleRepresentation as auth-service reads it: name, composite.
function checkRoles(where, roles) {
  if (!Array.isArray(roles) || roles.length === 0) fail(`${where} is ${show(roles)}, expected a non-empty array`);
  roles.forEach((role, i) => {
    expectType(`${where}[${i}]`, role, 'id', 'string');
    expectType(`${where}[${i}]`, role, 'name', 'string');
    expectType(`${where}[${i}]`, role, 'composite', 'boolean');
    expectType(`${where}[${i}]`, role, 'clientRole', 'boolean');
  });
  return roles.map((r) => r.name);
}
function ok(message) {
  console.log(`check-admin-client: ok: ${message}`);
}

async function main() {
  const client = new KcAdminClient({ baseUrl, realmName: 'orthanc' });
  // auth-service authenticates the same way (client-credentials of admin-cli).
  await client.auth({ grantType: 'client_credentials', clientId: 'admin-cli', clientSecret })
    .catch((e) => fail(`client-credentials token for admin-cli: ${e.message}`));
  if (typeof client.accessToken !== 'string') fail('no access token after auth()');
  ok('client-credentials token for admin-cli');

  // GET /admin/realms/orthanc/roles
  const roleNames = checkRoles('roles.find()', await client.roles.find());
  for (const wanted of ['admin-role', 'doctor-role', 'external-role']) {
    if (!roleNames.includes(wanted)) fail(`roles.find() lacks ${wanted}: ${show(roleNames)}`);
  }
  ok(`roles.find(): ${roleNames.join(', ')}`);

  // GET /admin/realms/orthanc/users?q=api-key:V&exact=true
  const found = await client.users.find({ q: 'api-key:key-doctor-0002', exact: true });
  if (!Array.isArray(found) || found.length !== 1) fail(`users.find(q api-key) gave ${show(found)}, expected one user`);
  checkUser('users.find()[0]', found[0]);
  if (found[0].username !== 'doctor' || !found[0].attributes?.['api-key']?.includes('key-doctor-0002')) {
    fail(`users.find(q api-key) found ${show(found[0])}, expected doctor holding key-doctor-0002`);
  }
  const none = await client.users.find({ q: 'api-key:no-such-key', exact: true });
  if (!Array.isArray(none) || none.length !== 0) fail(`users.find(q unknown api-key) gave ${show(none)}, expected []`);
  ok('users.find({q: "api-key:V"})');

  // GET /admin/realms/orthanc/users/{id}
  const { id } = found[0];
  const one = await client.users.findOne({ id });
  if (!one) fail(`users.findOne({id: ${id}}) found nothing`);
  checkUser('users.findOne()', one);
  if (one.id !== id || one.username !== 'doctor') fail(`users.findOne({id: ${id}}) gave ${show(one)}`);
  // auth-service reads a 404 as "no such user"; the official client turns it into null.
  const missing = await client.users.findOne({ id: 'no-such-user' });
  if (missing !== null && missing !== undefined) fail(`users.findOne(unknown id) gave ${show(missing)}, expected a 404`);
  ok('users.findOne({id})');

  // GET /admin/realms/orthanc/users/{id}/role-mappings/realm/composite
  const mapped = checkRoles('users.listCompositeRealmRoleMappings()',
    await client.users.listCompositeRealmRoleMappings({ id }));
  if (!mapped.includes('doctor-role')) fail(`doctor's composite realm roles lack doctor-role: ${show(mapped)}`);
  ok(`users.listCompositeRealmRoleMappings({id}): ${mapped.join(', ')}`);

  // GET /admin/realms/orthanc/users/{id}/groups: the group paths a token's `groups` claim holds.
  const groups = await client.users.listGroups({ id });
  if (!Array.isArray(groups) || !groups.every((g) => typeof g.name === 'string' && typeof g.path === 'string')) {
    fail(`users.listGroups({id}) gave ${show(groups)}, Keycloak sends groups with a name and a path`);
  }
  if (!groups.some((g) => g.path === '/doctors')) fail(`doctor's groups lack /doctors: ${show(groups)}`);
  ok(`users.listGroups({id}): ${groups.map((g) => g.path).join(', ')}`);

  // GET /admin/realms/orthanc/users?first=F&max=M&briefRepresentation=false: every user once,
  // by username, as many as GET users/count says.
  const total = await client.users.count();
  if (typeof total !== 'number' || total < 3) fail(`users.count() gave ${show(total)}, expected a number of users`);
  const listed = [];
  for (let first = 0; ; first += 3) {
    const page = await client.users.find({ first, max: 3, briefRepresentation: false });
    if (!Array.isArray(page) || page.length > 3) fail(`users.find({first: ${first}, max: 3}) gave ${show(page)}`);
    page.forEach((user, i) => checkUser(`users.find({first: ${first}, max: 3})[${i}]`, user));
    listed.push(...page.map((u) => u.username));
    if (page.length < 3) break;
  }
  if (listed.length !== total) fail(`paging listed ${listed.length} users, users.count() says ${total}`);
  if (new Set(listed).size !== listed.length) fail(`paging listed a user twice: ${show(listed)}`);
  if (listed.some((name, i) => i > 0 && listed[i - 1] > name)) fail(`users are not listed by username: ${show(listed)}`);
  ok(`users.find({first, max: 3}) pages through all ${total} users`);
  const brief = await client.users.find({ max: 2, briefRepresentation: true });
  if (!Array.isArray(brief) || brief.length !== 2 || brief.some((u) => 'attributes' in u)) {
    fail(`users.find({briefRepresentation: true}) gave ${show(brief)}: brief users have no attributes`);
  }
  ok('users.find({briefRepresentation: true}) leaves the attributes out');

  // GET /admin/realms/orthanc/users?username=U&exact=true
  const byName = await client.users.find({ username: 'doctor', exact: true, briefRepresentation: false });
  if (!Array.isArray(byName) || byName.length !== 1 || byName[0].username !== 'doctor') {
    fail(`users.find({username: doctor, exact}) gave ${show(byName)}, expected doctor alone`);
  }
  ok('users.find({username, exact: true})');

  // A wrong secret must be refused at the token endpoint, as Keycloak does.
  const intruder = new KcAdminClient({ baseUrl, realmName: 'orthanc' });
  const refused = await intruder.auth({ grantType: 'client_credentials', clientId: 'admin-cli', clientSecret: 'wrong' })
    .then(() => false, () => true);
  if (!refused) fail('a wrong admin-cli secret was accepted');
  ok('a wrong admin-cli secret is refused');
}

main().then(() => console.log('check-admin-client: all checks passed'),
  (e) => fail(`${e.constructor?.name ?? 'error'}: ${e.message}${e.response ? ` (HTTP ${e.response.status})` : ''}`));
