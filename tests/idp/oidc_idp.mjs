// A real OpenID Connect provider for Terrace's SSO tests: npm `oidc-provider`, plain http on loopback.
//
//   node oidc_idp.mjs   with IDP_PORT, IDP_CLIENT_ID, IDP_CLIENT_SECRET, IDP_REDIRECT_URIS (comma-separated)
//
// devInteractions gives the built-in login and consent pages (any password; the login name is the account
// id). Accounts answer with email, email_verified, name, preferred_username and `groups`. A small control
// endpoint lets a test change an account's claims between logins:
//   PUT /_control/accounts/<id>   body: JSON object of claims (merged over the defaults; groups may be
//                                 any JSON value, so a test can send a malformed claim)
// Prints "READY <issuer>" on stdout once it listens.
import http from 'node:http';

import Provider from 'oidc-provider';

const port = Number(process.env.IDP_PORT || 0);
const issuer = `http://127.0.0.1:${port}`;
const accounts = new Map();

function claimsFor(id) {
  return {
    sub: id,
    email: `${id}@example.test`,
    email_verified: true,
    name: id,
    preferred_username: id,
    groups: [],
    ...(accounts.get(id) || {}),
  };
}

const provider = new Provider(issuer, {
  clients: [{
    client_id: process.env.IDP_CLIENT_ID || 'terrace',
    client_secret: process.env.IDP_CLIENT_SECRET || 'terrace-secret',
    redirect_uris: (process.env.IDP_REDIRECT_URIS || '').split(',').filter(Boolean),
    token_endpoint_auth_method: 'client_secret_basic',
    grant_types: ['authorization_code'],
    response_types: ['code'],
  }],
  scopes: ['openid', 'email', 'profile', 'groups'],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'preferred_username'],
    groups: ['groups'],
  },
  features: { devInteractions: { enabled: true } },
  // Terrace must send a PKCE challenge even as a confidential client.
  pkce: { required: () => true },
  cookies: { keys: ['terrace-test-idp-cookie-key'] },
  async findAccount(ctx, id) {
    return { accountId: id, async claims() { return claimsFor(id); } };
  },
});
provider.proxy = false;
const callback = provider.callback();

async function readJson(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return JSON.parse(Buffer.concat(chunks).toString() || '{}');
}

const server = http.createServer(async (req, res) => {
  const control = req.url.match(/^\/_control\/accounts\/([^/?]+)$/);
  if (control && req.method === 'PUT') {
    try {
      const id = decodeURIComponent(control[1]);
      accounts.set(id, await readJson(req));
      res.writeHead(200, { 'content-type': 'application/json', connection: 'close' });
      res.end(JSON.stringify(claimsFor(id)));
    } catch (err) {
      res.writeHead(400, { 'content-type': 'text/plain' });
      res.end(String(err));
    }
    return;
  }
  callback(req, res);
});
server.listen(port, '127.0.0.1', () => {
  process.stdout.write(`READY ${issuer}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
