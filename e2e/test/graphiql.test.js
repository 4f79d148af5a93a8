// GraphiQL at / of a development-mode server, in headless Chromium: it
// loads from the server alone, carries the banner's token, runs its starter
// query as it opens, and runs a typed one.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';

import { chromium } from 'playwright-core';

import { artifacts, chromiumPath, dev, scratch, uniqueTag } from './env.js';

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

  test('Run on the starter query, untouched, lists the tasks', async () => {
    // One task through the API with the same token, so the first page has a row to show.
    const title = uniqueTag('graphiql');
    const created = await fetch(`${dev.url}/query`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${dev.token}` },
      body: JSON.stringify({
        query: 'mutation($input: CreateTaskInput!) { createTask(input: $input) { id } }',
        variables: { input: { title } },
      }),
    });
    assert.equal(created.status, 200);
    const { data, errors } = await created.json();
    assert.equal(errors, undefined);

    const starter = await editorText('.graphiql-query-editor');
    assert.match(starter, /^# /, 'the editor opens on the starter query');
    assert.match(starter, /Bearer <token>/);
    const answered = page.waitForResponse((r) => new URL(r.url()).pathname === '/query' && r.request().method() === 'POST'
      && !r.request().postData().includes('IntrospectionQuery'));
    await page.locator('.graphiql-execute-button').click();
    const res = await answered;
    assert.equal(res.status(), 200);
    assert.equal(JSON.parse(res.request().postData()).query, starter, 'Run sent the editor\'s text as it was');
    await page.waitForFunction(() => document.querySelector('.result-window .CodeMirror')?.CodeMirror.getValue().includes('"tasks"'));
    const shown = await editorText('.result-window');
    assert.match(shown, /"totalCount"/);
    assert.doesNotMatch(shown, /"errors"/);
    const result = JSON.parse(shown);
    assert.equal(result.data.tasks.totalCount, 1);
    assert.deepEqual(result.data.tasks.edges.map((e) => [e.node.id, e.node.title]), [[data.createTask.id, title]]);
    await page.screenshot({ path: path.join(artifacts, 'graphiql-starter.png') });
    assert.deepEqual(problems.splice(0), []);
  });

  test('running { tasks { totalCount } } shows the count', async () => {
    await page.evaluate(() => {
      document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror.setValue('{ tasks { totalCount } }');
    });
    // GraphiQL reads the editor 100 ms after a change; a Run before that
    // sends the starter query's operation name, MyTasks, with this text.
    // It saves the text (under the page's prefix) in the same step.
    await page.waitForFunction(() => localStorage.getItem('tasks:graphiql:query') === '{ tasks { totalCount } }');
    const answered = page.waitForResponse((r) => new URL(r.url()).pathname === '/query' && r.request().method() === 'POST'
      && r.request().postData().includes('totalCount'));
    const before = await editorText('.result-window');
    await page.locator('.graphiql-execute-button').click();
    const res = await answered;
    assert.equal(res.status(), 200);
    assert.equal(res.request().headers().authorization, `Bearer ${dev.token}`);
    // The pane still shows the starter query's answer until this one lands.
    await page.waitForFunction((prev) => {
      const now = document.querySelector('.result-window .CodeMirror')?.CodeMirror.getValue();
      return now !== prev && now.includes('totalCount');
    }, before);
    const result = JSON.parse(await editorText('.result-window'));
    assert.deepEqual(result, { data: { tasks: { totalCount: 1 } } }, 'the task the previous test made');
    await page.screenshot({ path: path.join(artifacts, 'graphiql.png') });
    assert.deepEqual(problems.splice(0), []);
  });

  test('a query with @defer: GraphiQL asks for parts and shows the deferred count merged in', async () => {
    const query = '{ tasks { totalCount ... @defer { count { value } } } }';
    await page.evaluate((q) => {
      document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror.setValue(q);
    }, query);
    await page.waitForFunction((q) => localStorage.getItem('tasks:graphiql:query') === q, query);
    const answered = page.waitForResponse((r) => new URL(r.url()).pathname === '/query' && r.request().method() === 'POST'
      && r.request().postData().includes('@defer'));
    await page.locator('.graphiql-execute-button').click();
    const res = await answered;
    assert.equal(res.status(), 200);
    assert.match(res.request().headers().accept, /multipart\/mixed/);
    assert.match(res.headers()['content-type'], /^multipart\/mixed/);
    await page.waitForFunction(() => /"value": 1/.test(document.querySelector('.result-window .CodeMirror')?.CodeMirror.getValue() ?? ''));
    const result = JSON.parse(await editorText('.result-window'));
    assert.deepEqual(result.data, { tasks: { totalCount: 1, count: { value: 1 } } }, JSON.stringify(result));
    assert.equal(result.errors, undefined);
    // Having read the last part, GraphiQL cancels its own request, which
    // Chromium reports as a failed one: that alone is expected here.
    const rest = problems.splice(0).filter((p) => !/^failed: POST \S+\/query: net::ERR_ABORTED$/.test(p));
    assert.deepEqual(rest, []);
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
