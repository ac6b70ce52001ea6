// A real OpenID Connect provider (oidc-provider) for Fireline's single sign-on tests.
//
// Started by the pytest fixture in tests/sso/conftest.py on a free port. Everything comes from the
// environment: PORT, CLIENT_ID, CLIENT_SECRET, REDIRECT_URIS and POST_LOGOUT_REDIRECT_URIS (space
// separated), USERS_FILE. The users file is JSON, {"login": {"email": ..., "given_name": ...,
// "family_name": ..., "groups": [...]}}, and is read again at every sign-in, so a test changes a
// person's groups at the provider by rewriting it. The login page is oidc-provider's own
// (devInteractions: any password is accepted for a login in the users file); consent is skipped, as a
// company's provider does for its own applications. PKCE is required of every client.
import { readFileSync } from 'node:fs';
import { generateKeyPairSync } from 'node:crypto';
import Provider from 'oidc-provider';

const port = Number(process.env.PORT);
const issuer = `http://127.0.0.1:${port}`;
const split = (value) => (value || '').split(' ').filter(Boolean);
const readUsers = () => JSON.parse(readFileSync(process.env.USERS_FILE, 'utf8'));

const signingKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: process.env.CLIENT_ID,
      client_secret: process.env.CLIENT_SECRET,
      redirect_uris: split(process.env.REDIRECT_URIS),
      post_logout_redirect_uris: split(process.env.POST_LOGOUT_REDIRECT_URIS),
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    },
  ],
  jwks: { keys: [{ ...signingKey, kid: 'fireline-test', alg: 'RS256', use: 'sig' }] },
  scopes: ['openid', 'email', 'profile', 'groups'],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['preferred_username', 'given_name', 'family_name', 'name'],
    groups: ['groups'],
  },
  pkce: { required: () => true },
  features: { devInteractions: { enabled: true }, rpInitiatedLogout: { enabled: true } },
  async findAccount(_ctx, id) {
    const person = readUsers()[id];
    if (!person) return undefined;
    return {
      accountId: id,
      async claims() {
        const current = readUsers()[id] || person;
        return {
          sub: id,
          preferred_username: id,
          email: current.email,
          email_verified: true,
          given_name: current.given_name,
          family_name: current.family_name,
          name: `${current.given_name} ${current.family_name}`,
          groups: current.groups || [],
        };
      },
    };
  },
  async loadExistingGrant(ctx) {
    const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) {
      const grant = await ctx.oidc.provider.Grant.find(grantId);
      if (grant) return grant;
    }
    const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
    grant.addOIDCScope('openid email profile groups');
    await grant.save();
    return grant;
  },
});
provider.proxy = false;

provider.listen(port, '127.0.0.1', () => {
  console.log(`oidc-provider ready at ${issuer}`);
});
