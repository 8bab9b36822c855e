import { describe, expect, it } from 'vitest';
import { requestIdOf } from '../../server/http/request-id';
import { targetFromInput } from '../../server/services/audit/mutation';
import { boundedDetail } from '../../server/services/audit/record';

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe('request ids', () => {
  it('keeps a sane X-Request-Id, else a sane X-Trace-Id, else mints a UUID', () => {
    expect(requestIdOf(new Headers({ 'x-request-id': 'abc.DEF_1:2-3' }))).toBe('abc.DEF_1:2-3');
    expect(requestIdOf(new Headers({ 'x-request-id': 'has space', 'x-trace-id': 'trace-1' }))).toBe('trace-1');
    expect(requestIdOf(new Headers({ 'x-request-id': 'r'.repeat(128) }))).toBe('r'.repeat(128));
    for (const bad of ['r'.repeat(129), 'a/b', 'a\u00e9', '"quoted"', '']) {
      expect(requestIdOf(new Headers({ 'x-request-id': bad })), bad).toMatch(UUID_RE);
    }
    expect(requestIdOf(new Headers())).toMatch(UUID_RE);
  });
});

describe('audit targets and details', () => {
  it('guesses the target from app_name, name, id, then digest, and only from name-like strings', () => {
    expect(targetFromInput({ name: 'n', app_name: 'app', id: 'i' })).toBe('app');
    expect(targetFromInput({ id: 'i', digest: 'd' })).toBe('i');
    expect(targetFromInput({ app_name: 42, name: 'fallback' })).toBe('fallback');
    expect(targetFromInput({ name: 'x'.repeat(201) })).toBeNull();
    expect(targetFromInput({ name: 'line\nbreak' })).toBeNull();
    expect(targetFromInput({ value: 'v' })).toBeNull();
    expect(targetFromInput('app')).toBeNull();
    expect(targetFromInput(null)).toBeNull();
  });

  it('stores scalars, lists of scalars and one level of nesting, bounded', () => {
    expect(boundedDetail({ set: ['A', 'B'], count: 2, deploy: false, none: null, nested: { unset: ['C'], deeper: { x: 1 } } })).toEqual({
      set: ['A', 'B'],
      count: 2,
      deploy: false,
      none: null,
      nested: { unset: ['C'] },
    });
    expect(boundedDetail({ fn: () => 1, nan: Number.NaN, list: [1, { x: 1 }, 'a'] })).toEqual({ list: [1, 'a'] });
    expect((boundedDetail({ long: 'y'.repeat(1000) }).long as string).length).toBe(200);
    const huge = boundedDetail(Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`k${i}`, 'z'.repeat(150)])));
    expect(huge.truncated).toBe(true);
    expect((huge.keys as string[]).length).toBe(50);
    expect(boundedDetail(undefined)).toEqual({});
  });
});
