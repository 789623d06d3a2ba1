// Licensed under the Apache License, Version 2.0 (the "License");
// you may not use this file except in compliance with the License.
// You may obtain a copy of the License at
//
//     http://www.apache.org/licenses/LICENSE-2.0
//
// Unless required by applicable law or agreed to in writing, software
// distributed under the License is distributed on an "AS IS" BASIS,
// WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
// See the License for the specific language governing permissions and
// limitations under the License.

// A scripted user agent for browser flows over plain HTTP: a cookie jar
// per origin (name=value only: the tests run on 127.0.0.1 over http),
// HTTP Basic credentials per origin (as a browser remembers them after the
// first 401), redirects followed by hand so that every hop is seen, and
// the forms of t/fixtures/oidc-interactions.mjs (upstream sign-in and
// consent). Headless Chromium (e2e/lib/openidc.mjs launchBrowser) does
// the same for the tests that need a real browser (framing).

import assert from 'node:assert/strict';
import { consentFields, pageText } from './oauth.mjs';

export { consentFields, pageText };

export class UserAgent {
  constructor() {
    this.jar = new Map();     // origin -> Map(name -> value)
    this.basic = new Map();   // origin -> "Basic ..."
    this.hops = [];           // every request: { method, url, status, location }
  }

  // Send Basic credentials to @origin from now on.
  signIn(origin, user, password) {
    this.basic.set(new URL(origin).origin, `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`);
  }

  forget(origin) {
    this.basic.delete(new URL(origin).origin);
    this.jar.delete(new URL(origin).origin);
  }

  // One request, no redirect followed. Returns { status, headers, body
  // (the text), url_ (the URL asked), next (the absolute Location) }.
  async request(url, { method = 'GET', form, headers = {} } = {}) {
    const u = new URL(url);
    const h = { ...headers };
    const cookies = this.jar.get(u.origin);
    if (cookies?.size) {
      h.Cookie = [...cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    }
    if (this.basic.has(u.origin)) {
      h.Authorization = this.basic.get(u.origin);
    }
    let body;
    if (form) {
      h['Content-Type'] = 'application/x-www-form-urlencoded';
      h.Origin ??= u.origin;
      body = new URLSearchParams(form).toString();
    }
    const res = await fetch(u, { method, headers: h, body, redirect: 'manual' });
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const i = pair.indexOf('=');
      if (!this.jar.has(u.origin)) {
        this.jar.set(u.origin, new Map());
      }
      const name = pair.slice(0, i).trim();
      const value = pair.slice(i + 1).trim();
      if (/;\s*(max-age=0|expires=Thu, 01 Jan 1970)/i.test(c) || value === '') {
        this.jar.get(u.origin).delete(name);
      } else {
        this.jar.get(u.origin).set(name, value);
      }
    }
    const location = res.headers.get('location');
    const out = {
      status: res.status,
      headers: res.headers,
      body: await res.text(),
      url_: u.href,
      next: location ? new URL(location, u).href : null,
    };
    this.hops.push({ method, url: u.href, status: out.status, location: out.next });
    return out;
  }

  // Follow redirects from @url (GET), at most @max; stop early at a URL
  // @stop(url) says to stop at (not requested). Returns the last Response
  // (or { stopped: url }).
  async follow(url, { max = 10, stop } = {}) {
    let res = null;
    for (let i = 0; i < max; i++) {
      if (stop?.(url)) {
        return { stopped: url, status: 0, body: '' };
      }
      res = await this.request(url);
      if (!(res.status >= 300 && res.status < 400 && res.next)) {
        return res;
      }
      url = res.next;
    }
    throw new Error(`more than ${max} redirects from ${url}`);
  }

  // At an upstream sign-in page (@res, from oidc-interactions.mjs): sign
  // in as @login, then follow; answer the consent page with @decision
  // ("allow" or "deny"). Returns the Response where it ended (or stopped).
  async upstreamSignIn(res, login, password, { decision = 'allow', stop } = {}) {
    let action = /<form method="post" action="([^"]+\/login)">/.exec(res.body)?.[1];
    if (action) {
      const r = await this.request(new URL(action, res.url_).href, { method: 'POST', form: { login, password } });
      if (r.status === 200) {
        throw new Error(`upstream sign-in refused: ${pageText(r.body).slice(0, 300)}`);
      }
      res = await this.follow(r.next, { stop });
      if (res.stopped) {
        return res;
      }
    }
    action = new RegExp(`<form method="post" action="([^"]+/${decision === 'allow' ? 'confirm' : 'abort'})">`)
      .exec(res.body)?.[1];
    if (action) {
      const r = await this.request(new URL(action, res.url_).href, { method: 'POST', form: {} });
      return this.follow(r.next, { stop });
    }
    return res;
  }
}

// The forms of @html: [{ action, method, fields (hidden), inputs (names of
// the visible ones), buttons: [{ name, value, text }] }].
export function forms(html) {
  const out = [];
  for (const m of html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/gi)) {
    const attr = (s, n) => new RegExp(`\\b${n}\\s*=\\s*"([^"]*)"`, 'i').exec(s)?.[1];
    const f = { action: attr(m[1], 'action') ?? '', method: (attr(m[1], 'method') ?? 'get').toLowerCase(),
      fields: {}, inputs: [], buttons: [] };
    for (const i of m[2].matchAll(/<input\b([^>]*)>/gi)) {
      const type = (attr(i[1], 'type') ?? 'text').toLowerCase();
      const name = attr(i[1], 'name');
      if (!name) continue;
      const value = (attr(i[1], 'value') ?? '').replace(/&amp;/g, '&').replace(/&quot;/g, '"');
      if (type === 'hidden') f.fields[name] = value;
      else if (type === 'submit') f.buttons.push({ name, value, text: value });
      else f.inputs.push(name);
    }
    for (const t of m[2].matchAll(/<textarea\b([^>]*)>/gi)) {
      const name = attr(t[1], 'name');
      if (name) f.inputs.push(name);
    }
    for (const b of m[2].matchAll(/<button\b([^>]*)>([\s\S]*?)<\/button>/gi)) {
      f.buttons.push({ name: attr(b[1], 'name'), value: attr(b[1], 'value') ?? '', text: pageText(b[2]) });
    }
    out.push(f);
  }
  return out;
}

// Submit @form of the page at @pageUrl with @button (a regexp on its
// name, value or text) and @extra fields.
export function submit(ua, pageUrl, form, button, extra = {}) {
  const b = form.buttons.find((x) => button.test(`${x.name ?? ''} ${x.value} ${x.text}`));
  const body = { ...form.fields, ...(b?.name ? { [b.name]: b.value } : {}), ...extra };
  return ua.request(new URL(form.action || pageUrl, pageUrl).href, { method: 'POST', form: body });
}

export const ALLOW = /allow|approve|confirm|connect|link|authori[sz]e|continue|yes/i;

// mod_mcp_idp's link flow: open @authorizeUrl (an authorize_url of the
// gateway at @gateway, link pages under @base) signed in to the gateway as
// @user, confirm, sign in at the upstream OAuth server @upstream
// (t/fixtures/upstream-oauth.mjs) as @upstreamUser (default @user, same
// @password) and answer its consent with @decision. Returns what was
// seen: { ua, confirm, form, toUpstream, callbackUrl, done }. With
// { callback: false } it stops before the callback (not requested).
export async function linkUpstream(authorizeUrl, { gateway, base = '/oauth/v1', upstream, user, password,
  upstreamUser = user, decision = 'allow', ua = new UserAgent(), callback = true }) {
  ua.signIn(gateway, user, password);
  const confirm = await ua.request(authorizeUrl);
  assert.equal(confirm.status, 200, `the confirmation page: ${confirm.status} ${pageText(confirm.body).slice(0, 300)}`);
  const form = forms(confirm.body).find((f) => f.method === 'post');
  assert.ok(form, `a POST form on the confirmation page: ${confirm.body.slice(0, 400)}`);
  const consent = await submit(ua, authorizeUrl, form, ALLOW);
  assert.ok([302, 303].includes(consent.status), `consent → redirect: ${consent.status} ${pageText(consent.body).slice(0, 300)}`);
  assert.ok(consent.next.startsWith(`${upstream}/`), `to the upstream: ${consent.next}`);
  const callbackPrefix = `${new URL(gateway).origin}${base}/callback`;
  let res = await ua.follow(consent.next, { stop: (u) => u.startsWith(callbackPrefix) });
  if (!res.stopped) {
    res = await ua.upstreamSignIn(res, upstreamUser, password,
      { decision, stop: (u) => u.startsWith(callbackPrefix) });
  }
  assert.ok(res.stopped, `back at the gateway's callback: ${res.status} ${pageText(res.body ?? '').slice(0, 300)}`);
  const done = callback ? await ua.follow(res.stopped) : null;
  return { ua, confirm, form, toUpstream: consent.next, callbackUrl: res.stopped, done };
}
