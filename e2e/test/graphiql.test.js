// GraphiQL at / of a development-mode server, in headless Chromium: it
// loads from the server alone, carries the banner's token, and runs a query.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';

import { chromium } from 'playwright-core';

import { artifacts, chromiumPath, dev, scratch } from './env.js';

describe('GraphiQL', () => {
  let profile;
  let browser;
  let page;
  const problems = []; // failed requests, error statuses, other origins, console errors

  before(async () => {
    profile = await mkdtemp(path.join(scratch, 'chromium-'));
    browser = await chromium.launchPersistentContext(profile, {
      executablePath: chromiumPath,
      headless: true,
      // Playwright adds --headless, and the profile is its --user-data-dir.
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
      viewport: { width: 1280, height: 800 },
    });
    page = browser.pages()[0] ?? (await browser.newPage());
    const origin = new URL(dev.url).origin;
    page.on('request', (req) => {
      const url = new URL(req.url());
      if (url.protocol !== 'data:' && url.origin !== origin) {
        problems.push(`request to another origin: ${req.method()} ${req.url()}`);
      }
    });
    page.on('requestfailed', (req) => problems.push(`failed: ${req.method()} ${req.url()}: ${req.failure()?.errorText}`));
    page.on('response', (res) => {
      if (res.status() >= 400) problems.push(`${res.status()}: ${res.request().method()} ${res.url()}`);
    });
    page.on('console', (msg) => {
      if (msg.type() === 'error') problems.push(`console error: ${msg.text()} at ${JSON.stringify(msg.location())}`);
    });
    page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  });

  after(async () => {
    await browser?.close();
    if (profile) await rm(profile, { recursive: true, force: true });
  });

  test('the page loads every asset from the server itself and introspects the schema', async () => {
    const introspected = page.waitForResponse((r) => new URL(r.url()).pathname === '/query'
      && r.request().postData()?.includes('IntrospectionQuery'));
    const res = await page.goto(`${dev.url}/`, { waitUntil: 'networkidle' });
    assert.equal(res.status(), 200);
    assert.match(res.headers()['content-security-policy'], /default-src 'none'/);
    await page.locator('.graphiql-container').waitFor();
    const schema = await introspected;
    assert.equal(schema.status(), 200, 'introspection on load carries the token');
    assert.ok((await schema.json()).data.__schema);

    await page.getByRole('button', { name: 'Show Documentation Explorer' }).click();
    await page.locator('.graphiql-doc-explorer').getByRole('link', { name: 'Mutation' }).waitFor();
    assert.deepEqual(problems.splice(0), []);
  });

  test("the headers editor holds the development token", async () => {
    await page.getByRole('button', { name: 'Headers' }).click();
    const headers = await editorText('.graphiql-editor-tool .graphiql-editor:not(.hidden)');
    assert.deepEqual(JSON.parse(headers), { Authorization: `Bearer ${dev.token}` });
  });

  test('running { tasks { totalCount } } shows the count', async () => {
    await page.evaluate(() => {
      document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror.setValue('{ tasks { totalCount } }');
    });
    const answered = page.waitForResponse((r) => new URL(r.url()).pathname === '/query' && r.request().method() === 'POST'
      && r.request().postData().includes('totalCount'));
    await page.locator('.graphiql-execute-button').click();
    const res = await answered;
    assert.equal(res.status(), 200);
    assert.equal(res.request().headers().authorization, `Bearer ${dev.token}`);
    await page.waitForFunction(() => document.querySelector('.result-window .CodeMirror')?.CodeMirror.getValue().includes('totalCount'));
    const result = JSON.parse(await editorText('.result-window'));
    assert.deepEqual(result, { data: { tasks: { totalCount: 0 } } });
    await page.screenshot({ path: path.join(artifacts, 'graphiql.png') });
    assert.deepEqual(problems.splice(0), []);
  });

  test('a dialog opens under the page\'s Content-Security-Policy', async () => {
    // Radix's scroll lock adds a <style> element: the reason the policy
    // allows inline styles.
    await page.getByRole('button', { name: 'Open settings dialog' }).click();
    await page.getByRole('dialog').getByText('Settings').first().waitFor();
    await page.keyboard.press('Escape');
    await page.getByRole('dialog').waitFor({ state: 'detached' });
    assert.deepEqual(problems.splice(0), []);
  });

  /** The text of the CodeMirror editor inside the element selector matches. */
  function editorText(selector) {
    return page.evaluate((sel) => document.querySelector(`${sel} .CodeMirror`).CodeMirror.getValue(), selector);
  }
});
