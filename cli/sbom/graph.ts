import { npmPurl } from './purl.js';
import type { DependencyGraph, HashAlg, ResolvedPackage } from './types.js';

const SRI_ALGS: Record<string, { alg: HashAlg; bytes: number }> = {
  sha1: { alg: 'SHA-1', bytes: 20 },
  sha256: { alg: 'SHA-256', bytes: 32 },
  sha384: { alg: 'SHA-384', bytes: 48 },
  sha512: { alg: 'SHA-512', bytes: 64 },
};

/**
 * The hashes of an SRI `integrity` string (`sha512-<base64> sha1-<base64>`), as lowercase hex,
 * which is what CycloneDX's `hashes[].content` requires. Unknown algorithms and malformed or
 * wrong-length values are dropped; a repeated algorithm keeps its first value.
 */
export function integrityToHashes(integrity: unknown): Array<[HashAlg, string]> {
  if (typeof integrity !== 'string') return [];
  const hashes: Array<[HashAlg, string]> = [];
  for (const token of integrity.trim().split(/\s+/)) {
    const m = /^(sha1|sha256|sha384|sha512)-([A-Za-z0-9+/]+={0,2})(?:\?\S*)?$/.exec(token);
    const known = m ? SRI_ALGS[m[1]!] : undefined;
    if (!m || !known || hashes.some(([alg]) => alg === known.alg)) continue;
    const bytes = Buffer.from(m[2]!, 'base64');
    if (bytes.length === known.bytes) hashes.push([known.alg, bytes.toString('hex')]);
  }
  return hashes;
}

/** The git URL a package was installed from, or undefined for registry tarballs and folders. */
export function vcsUrlOf(resolved: unknown): string | undefined {
  if (typeof resolved !== 'string') return undefined;
  return /^(?:git(?:\+[a-z]+)?:|github:|gitlab:|bitbucket:)/.test(resolved) ? resolved : undefined;
}

/** Dependency names of a package.json-style record (`{ name: range }`), [] for anything else. */
export function depNames(record: unknown): string[] {
  return record && typeof record === 'object' && !Array.isArray(record) ? Object.keys(record) : [];
}

export function emptyGraph(source: DependencyGraph['source']): DependencyGraph {
  return { source, direct: new Set(), packages: new Map() };
}

/**
 * Adds a package (or finds it: one node per purl) and returns its purl. The same name@version
 * met again, installed at another path, only contributes hashes the first one lacked.
 */
export function addPackage(graph: DependencyGraph, pkg: Omit<ResolvedPackage, 'dependsOn'>): string {
  const purl = npmPurl(pkg.name, pkg.version, pkg.vcsUrl ? { vcs_url: pkg.vcsUrl } : {});
  const existing = graph.packages.get(purl);
  if (!existing) {
    graph.packages.set(purl, { ...pkg, hashes: [...pkg.hashes], dependsOn: new Set() });
  } else {
    for (const hash of pkg.hashes) {
      if (!existing.hashes.some(([alg]) => alg === hash[0])) existing.hashes.push(hash);
    }
  }
  return purl;
}

/** The string value of a JSON field, or undefined. */
export function str(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}
