// Two OpenID Connect providers for Accord's SSO tests, each a real panva/oidc-provider (a
// certified implementation) on 127.0.0.1. Its development login page accepts any login name
// (the password field is required but not checked) and then asks for consent. Every login name
// is an account whose claims are derived from the name.
//
//   node providers.mjs <agency port> <partner port> <accord callback URL> <client secret>
//
// Prints "ready" once both listen; stops on SIGTERM.
import Provider from 'oidc-provider';

const [agencyPort, partnerPort, callback, secret] = process.argv.slice(2);
if (!agencyPort || !partnerPort || !callback || !secret) {
  console.error('usage: node providers.mjs <agency port> <partner port> <callback> <secret>');
  process.exit(2);
}

function provider(port, label) {
  const issuer = `http://127.0.0.1:${port}`;
  const oidc = new Provider(issuer, {
    clients: [{
      client_id: 'accord',
      client_secret: secret,
      redirect_uris: [callback],
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    }],
    async findAccount(ctx, id) {
      return {
        accountId: id,
        async claims() {
          const name = id.charAt(0).toUpperCase() + id.slice(1);
          return { sub: `${label}-${id}`, preferred_username: id, name: `${name} (${label})` };
        },
      };
    },
    claims: { openid: ['sub'], profile: ['name', 'preferred_username'] },
    features: { devInteractions: { enabled: true } },
    pkce: { required: () => true },
    cookies: { keys: [`${label}-cookie-key-for-tests-only`] },
  });
  // Plain HTTP on loopback: the provider must not insist on TLS-only cookies.
  oidc.proxy = false;
  return new Promise((resolve) => {
    const server = oidc.listen(Number(port), '127.0.0.1', () => resolve(server));
  });
}

const servers = await Promise.all([provider(agencyPort, 'agency'), provider(partnerPort, 'partner')]);
console.log('ready');
process.on('SIGTERM', () => {
  for (const server of servers) server.close();
  process.exit(0);
});
