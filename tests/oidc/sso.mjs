// Drives single sign-on through Accord with headless Chromium, as a person would in Element
// Web: pick a provider on Accord's page, log in at the provider, consent, confirm on Accord's
// page, land back at the "client" with a login token, which is traded for an access token with
// m.login.token. Once per provider (two are configured), with screenshots of every page.
//
//   node sso.mjs <accord base URL> <screenshot dir>
//
// Exits non-zero, naming the step, on the first failure.
import http from 'node:http';
import { mkdirSync } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import { chromium } from 'playwright-core';

const [accord, shots] = process.argv.slice(2);
mkdirSync(shots, { recursive: true });

function check(condition, message) {
  if (!condition) throw new Error(message);
}

async function matrix(method, path, body, token) {
  const headers = { 'content-type': 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  const response = await fetch(`${accord}${path}`, {
    method, headers, body: body ? JSON.stringify(body) : undefined,
  });
  return { status: response.status, body: await response.json().catch(() => null) };
}

// The "client": where Accord sends the browser back, with ?loginToken=.
const client = http.createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'text/html' });
  res.end('<!DOCTYPE html><title>client</title><p>back at the client</p>');
});
await new Promise((resolve) => client.listen(0, '127.0.0.1', resolve));
const clientUrl = `http://127.0.0.1:${client.address().port}/after-login`;

const types = await matrix('GET', '/_matrix/client/v3/login');
const sso = types.body.flows.find((flow) => flow.type === 'm.login.sso');
check(sso && sso.identity_providers.length === 2, `GET /login lists both providers: ${JSON.stringify(types.body)}`);
check(types.body.flows.some((flow) => flow.type === 'm.login.token'), 'GET /login offers m.login.token');

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});

const logins = [
  { provider: 'Agency login', person: 'alice', expected: '@alice:localhost', displayname: 'Alice (agency)' },
  // The partner's "alice" is another person: her id gets a number, never Alice's account.
  { provider: 'Partner login', person: 'alice', expected: '@alice1:localhost', displayname: 'Alice (partner)' },
];
try {
  for (const [index, login] of logins.entries()) {
    const step = (what) => `${login.provider}: ${what}`;
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${accord}/_matrix/client/v3/login/sso/redirect?redirectUrl=${encodeURIComponent(clientUrl)}`);
    check((await page.title()) === 'Choose how to log in', step('Accord shows the provider picker'));
    await page.screenshot({ path: `${shots}/${index + 1}-1-accord-picker.png` });
    await page.getByRole('link', { name: `Continue with ${login.provider}` }).click();

    await page.waitForSelector('input[name=login]');
    check(!page.url().startsWith(accord), step('the browser is at the provider'));
    await page.fill('input[name=login]', login.person);
    await page.fill('input[name=password]', 'the provider checks this, not Accord');
    await page.screenshot({ path: `${shots}/${index + 1}-2-provider-login.png` });
    await page.click('button[type=submit]');
    await page.waitForSelector('button[type=submit]');
    await page.screenshot({ path: `${shots}/${index + 1}-3-provider-consent.png` });
    await page.click('button[type=submit]');

    await page.waitForURL(/\/_synapse\/client\/oidc\/callback/);
    const callbackUrl = page.url();
    const text = await page.textContent('main');
    check(text.includes(login.expected), step(`Accord's page names ${login.expected}: ${text}`));
    check(text.includes('127.0.0.1'), step(`Accord's page names the client it hands the login to: ${text}`));
    await page.screenshot({ path: `${shots}/${index + 1}-4-accord-continue.png` });
    await page.getByRole('link', { name: /^Continue to/ }).click();
    await page.waitForURL((url) => url.toString().startsWith(clientUrl));
    const token = new URL(page.url()).searchParams.get('loginToken');
    check(token, step('the client got a loginToken'));

    const tokenLogin = await matrix('POST', '/_matrix/client/v3/login', { type: 'm.login.token', token });
    check(tokenLogin.status === 200 && tokenLogin.body.user_id === login.expected,
      step(`m.login.token logs in ${login.expected}: ${JSON.stringify(tokenLogin)}`));
    const again = await matrix('POST', '/_matrix/client/v3/login', { type: 'm.login.token', token });
    check(again.status === 403 && again.body.errcode === 'M_FORBIDDEN', step(`a login token works once: ${JSON.stringify(again)}`));
    const whoami = await matrix('GET', '/_matrix/client/v3/account/whoami', null, tokenLogin.body.access_token);
    check(whoami.body.user_id === login.expected, step(`whoami: ${JSON.stringify(whoami)}`));
    const profile = await matrix('GET', `/_matrix/client/v3/profile/${encodeURIComponent(login.expected)}`);
    check(profile.body.displayname === login.displayname, step(`display name from the provider: ${JSON.stringify(profile)}`));

    // The provider's answer can't be used twice.
    const replay = await page.goto(callbackUrl);
    check(replay.status() === 403, step(`a replayed callback is refused (${replay.status()})`));
    await page.screenshot({ path: `${shots}/${index + 1}-5-accord-replay-refused.png` });
    await context.close();
  }

  // A second login of the agency's Alice finds her account again (linked by subject).
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${accord}/_matrix/client/v3/login/sso/redirect/agency?redirectUrl=${encodeURIComponent(clientUrl)}`);
  await page.fill('input[name=login]', 'alice');
  await page.fill('input[name=password]', 'x');
  await page.click('button[type=submit]');
  await page.waitForSelector('button[type=submit]');
  await page.click('button[type=submit]');
  await page.waitForURL(/\/_synapse\/client\/oidc\/callback/);
  check((await page.textContent('main')).includes('@alice:localhost'), 'the agency Alice logs in to the same account again');
  await context.close();

  // The OAuth 2.0 API: an app registers, sends the browser to Accord's login page, the person
  // picks the agency's login there, approves the app on Accord's consent page, and the app
  // trades the code (with its PKCE verifier) for tokens.
  const registered = await fetch(`${accord}/_accord/oauth2/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      client_name: 'Chromium test app',
      client_uri: 'https://chromium-test.example/',
      application_type: 'native',
      redirect_uris: ['http://127.0.0.1/after-login'],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    }),
  });
  check(registered.status === 201, `OAuth client registration (${registered.status})`);
  const clientId = (await registered.json()).client_id;
  const verifier = randomBytes(48).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  const authorize = new URL(`${accord}/_accord/oauth2/authorize`);
  Object.entries({
    response_type: 'code',
    client_id: clientId,
    redirect_uri: clientUrl,
    scope: 'urn:matrix:client:api:* urn:matrix:client:device:CHROMIUMDEV',
    state: 'oauth-state',
    code_challenge: challenge,
    code_challenge_method: 'S256',
  }).forEach(([key, value]) => authorize.searchParams.set(key, value));
  const oauthContext = await browser.newContext();
  const oauthPage = await oauthContext.newPage();
  await oauthPage.goto(authorize.toString());
  check((await oauthPage.title()) === 'Log in', 'OAuth: Accord shows its login page');
  check((await oauthPage.textContent('main')).includes('Chromium test app'), 'OAuth: the login page names the app');
  await oauthPage.screenshot({ path: `${shots}/3-1-oauth-accord-login.png` });
  await oauthPage.getByRole('link', { name: 'Continue with Agency login' }).click();
  await oauthPage.waitForSelector('input[name=login]');
  await oauthPage.fill('input[name=login]', 'alice');
  await oauthPage.fill('input[name=password]', 'x');
  await oauthPage.click('button[type=submit]');
  await oauthPage.waitForSelector('button[type=submit]');
  await oauthPage.click('button[type=submit]');
  await oauthPage.waitForURL(/\/_accord\/oauth2\/authorize\/sso/);
  check((await oauthPage.title()) === 'Allow access?', 'OAuth: Accord asks for consent');
  check((await oauthPage.textContent('main')).includes('@alice:localhost'), 'OAuth: consent names the account');
  await oauthPage.screenshot({ path: `${shots}/3-2-oauth-accord-consent.png` });
  await oauthPage.getByRole('button', { name: 'Allow' }).click();
  await oauthPage.waitForURL((url) => url.toString().startsWith(clientUrl));
  const answer = new URL(oauthPage.url());
  check(answer.searchParams.get('state') === 'oauth-state', 'OAuth: the state comes back');
  const code = answer.searchParams.get('code');
  check(code, 'OAuth: a code comes back');
  const exchanged = await fetch(`${accord}/_accord/oauth2/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code', code, redirect_uri: clientUrl, client_id: clientId, code_verifier: verifier,
    }),
  });
  const tokens = await exchanged.json();
  check(exchanged.status === 200 && tokens.refresh_token, `OAuth: the code exchange (${JSON.stringify(tokens)})`);
  const oauthWhoami = await matrix('GET', '/_matrix/client/v3/account/whoami', null, tokens.access_token);
  check(oauthWhoami.body.user_id === '@alice:localhost' && oauthWhoami.body.device_id === 'CHROMIUMDEV',
    `OAuth: whoami ${JSON.stringify(oauthWhoami.body)}`);
  await oauthContext.close();

  // A state that was never started here is refused, with a page that says so.
  const forged = await fetch(`${accord}/_synapse/client/oidc/callback?code=x&state=never-started`);
  check(forged.status === 403 && (await forged.text()).includes('start the login again'), 'an unknown state is refused');
  // redirectUrl must not run script in the browser.
  const script = await fetch(`${accord}/_matrix/client/v3/login/sso/redirect/agency?redirectUrl=${encodeURIComponent('javascript:alert(1)')}`, { redirect: 'manual' });
  check(script.status === 400, `a javascript: redirectUrl is refused (${script.status})`);
  console.log(`sso.mjs: both providers and the OAuth flow passed; screenshots in ${shots}`);
} finally {
  await browser.close();
  client.close();
}
