import { describe, expect, it } from 'vitest';
import { responseHead, scanRequestHead } from '../../server/runtime/local/router/forward-headers';
import { createHostParser } from '../../server/runtime/local/router/host';
import { crashLoopPage, escapeHtml, noInstancePage } from '../../server/runtime/local/router/pages';

describe('router host parsing', () => {
  const parse = createHostParser('localhost');

  it('reads apps and deployment prefixes, in any case, with or without a port', () => {
    expect(parse('notes.localhost')).toEqual({ appName: 'notes', deploymentPrefix: null });
    expect(parse('Notes-API.LocalHost:8080')).toEqual({ appName: 'notes-api', deploymentPrefix: null });
    expect(parse('notes.localhost.')).toEqual({ appName: 'notes', deploymentPrefix: null });
    expect(parse('0a1b2c3d--notes.localhost:80')).toEqual({ appName: 'notes', deploymentPrefix: '0a1b2c3d' });
    expect(parse('a')).toBeNull();
  });

  it('rejects everything else', () => {
    for (const host of [undefined, '', 'localhost', '.localhost', 'example.com', 'notes.example.com', 'a.notes.localhost', '127.0.0.1', '[::1]:80', '-x.localhost', 'x-.localhost', 'x_y.localhost', `${'a'.repeat(64)}.localhost`, 'notes.localhost:', 'notes.localhost:80a', '0a1b2c3d--.localhost', '0a1b2c3d---x.localhost', 'notes.localhost evil']) {
      expect(parse(host), String(host)).toBeNull();
    }
  });

  it('keeps a name with a double hyphen elsewhere as an app name', () => {
    expect(parse('ab--cd.localhost')).toEqual({ appName: 'ab--cd', deploymentPrefix: null });
  });

  it('serves another domain when configured', () => {
    const apps = createHostParser('apps.internal');
    expect(apps('notes.apps.internal')).toEqual({ appName: 'notes', deploymentPrefix: null });
    expect(apps('notes.localhost')).toBeNull();
  });
});

describe('router pages', () => {
  it('escapes the app name', () => {
    expect(escapeHtml(`<script>"'&`)).toBe('&#60;script&#62;&#34;&#39;&#38;');
    expect(noInstancePage('<b>').body.toString()).toContain('<code>&#60;b&#62;</code>');
    expect(noInstancePage('x').status).toBe(502);
    const loop = crashLoopPage('x');
    expect(loop.status).toBe(503);
    expect(loop.headers).toEqual(['Retry-After', '5']);
  });
});

describe('router header rewriting', () => {
  it('drops hop-by-hop headers and those Connection lists, and collects the router-set ones', () => {
    const head = scanRequestHead(
      ['Host', 'a.localhost', 'Connection', 'keep-alive, X-Private', 'X-Private', '1', 'Keep-Alive', '5', 'TE', 'trailers', 'Transfer-Encoding', 'chunked', 'Upgrade', 'h2c', 'X-Forwarded-For', '1.1.1.1', 'x-forwarded-for', '2.2.2.2', 'X-Request-Id', 'ok-1', 'Accept', '*/*'],
      false,
    );
    expect(head.headers).toEqual(['Host', 'a.localhost', 'Accept', '*/*']);
    expect(head).toMatchObject({ host: 'a.localhost', forwardedFor: '1.1.1.1, 2.2.2.2', requestId: 'ok-1', chunked: true });
  });

  it('keeps Connection and Upgrade on an upgrade', () => {
    const head = scanRequestHead(['Host', 'a.localhost', 'Connection', 'Upgrade', 'Upgrade', 'websocket'], true);
    expect(head.headers).toEqual(['Host', 'a.localhost', 'Connection', 'Upgrade', 'Upgrade', 'websocket']);
  });

  it('replaces the instance request id on the response and spots event streams', () => {
    const out = responseHead(['Content-Type', 'text/event-stream', 'X-Request-Id', 'theirs', 'Transfer-Encoding', 'chunked', 'Set-Cookie', 'a=1', 'Set-Cookie', 'b=2'], 'ours');
    expect(out.headers).toEqual(['Content-Type', 'text/event-stream', 'Set-Cookie', 'a=1', 'Set-Cookie', 'b=2', 'X-Request-Id', 'ours']);
    expect(out.eventStream).toBe(true);
  });
});
