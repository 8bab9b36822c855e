import { describe, expect, it } from 'vitest';
import { decideSandbox } from '../../server/runtime/local/sandbox/mode';

const dev = { production: false, unsafeSharedUser: false };
const prod = { production: true, unsafeSharedUser: false };
const prodUnsafe = { production: true, unsafeSharedUser: true };

describe('which sandbox the local runtime picks', () => {
  it('gives apps their own uid and bwrap when root with a working bwrap, and says nothing', () => {
    expect(decideSandbox({ isRoot: true, bwrapWorks: true }, prod)).toEqual({ mode: 'bwrap-uid', warning: null, refusal: null });
  });

  it('falls back to own uid without namespaces as root without bwrap, and warns', () => {
    const d = decideSandbox({ isRoot: true, bwrapWorks: false }, prod);
    expect(d).toMatchObject({ mode: 'uid', refusal: null });
    expect(d.warning).toMatch(/^bubblewrap \(bwrap\) is missing/);
  });

  it('uses bwrap in a user namespace of its own uid when not root, and warns', () => {
    const d = decideSandbox({ isRoot: false, bwrapWorks: true }, prod);
    expect(d).toMatchObject({ mode: 'bwrap', refusal: null });
    expect(d.warning).toMatch(/^the control plane is not root/);
  });

  it('with no sandbox possible: runs apps with a loud warning outside production', () => {
    const d = decideSandbox({ isRoot: false, bwrapWorks: false }, dev);
    expect(d.mode).toBe('none');
    expect(d.refusal).toBeNull();
    expect(d.warning).toMatch(/^NO APP SANDBOX: /);
  });

  it('with no sandbox possible: refuses to run apps in production', () => {
    const d = decideSandbox({ isRoot: false, bwrapWorks: false }, prod);
    expect(d.mode).toBe('none');
    expect(d.refusal).toBe('no sandbox is available on this host and NODE_ENV=production: apps are not run (AETHER_UNSAFE_SHARED_USER=true overrides)');
    expect(d.warning).toMatch(/Refusing to run apps \(NODE_ENV=production\); set AETHER_UNSAFE_SHARED_USER=true/);
  });

  it('with no sandbox possible: runs apps in production only with AETHER_UNSAFE_SHARED_USER=true', () => {
    const d = decideSandbox({ isRoot: false, bwrapWorks: false }, prodUnsafe);
    expect(d).toMatchObject({ mode: 'none', refusal: null });
    expect(d.warning).toMatch(/^NO APP SANDBOX: /);
  });
});
