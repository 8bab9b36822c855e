import type { Manifest } from '../pack/manifest.js';

/** The parts of a package.json the SBOMs read; anything else is ignored. */
export interface PackageJson {
  name?: unknown;
  version?: unknown;
  dependencies?: unknown;
  optionalDependencies?: unknown;
  peerDependencies?: unknown;
  [key: string]: unknown;
}

/** A lockfile found in the project root, read but not parsed. */
export interface Lockfile {
  kind: 'npm' | 'yarn' | 'pnpm';
  /** File name relative to the project root (`package-lock.json`, `yarn.lock`, ...). */
  file: string;
  text: string;
}

export interface SbomInput {
  /** Project root: lockfiles and installed package.json files are read relative to it. */
  root: string;
  /** Where the shipped node_modules was installed, when not in `root` (see cli/install.ts). */
  installRoot?: string;
  /** The parsed package.json of the project. */
  packageJson: PackageJson;
  /** The artifact's manifest, from packArtifact. */
  manifest: Manifest;
  /**
   * The project's lockfile. `undefined`: look for one in `root` (readLockfile); `null`: there is
   * none, use the installed packages.
   */
  lockfile?: Lockfile | null;
  /** Told about anything that made the SBOM less precise (an unparsable lockfile, ...). */
  warn?: (message: string) => void;
  /** Recorded as the generating tool in the CycloneDX metadata when given. */
  toolVersion?: string;
}

/** CycloneDX hash algorithm names for the ones SRI `integrity` strings can carry. */
export type HashAlg = 'SHA-1' | 'SHA-256' | 'SHA-384' | 'SHA-512';

/** One resolved package: what a CycloneDX component is made from. */
export interface ResolvedPackage {
  /** The package's real name (an alias's target, not the alias), maybe scoped. */
  name: string;
  /** The resolved version; '' when the source gives none (a linked folder without one). */
  version: string;
  /** Lowercase hex digests from the lockfile's integrity, in the order given there. */
  hashes: Array<[HashAlg, string]>;
  /** A git URL when the package was installed from git rather than a registry. */
  vcsUrl?: string;
  /** purls of the packages this one's dependencies resolved to. */
  dependsOn: Set<string>;
}

/**
 * The production dependency tree reduced to distinct packages: one node per purl (the same
 * name@version installed at several paths is one component), edges as purls.
 */
export interface DependencyGraph {
  /** What the graph was built from, recorded in the SBOM. */
  source: 'package-lock.json' | 'npm-shrinkwrap.json' | 'yarn.lock' | 'node_modules';
  /** purls of the project's direct production dependencies. */
  direct: Set<string>;
  /** Every production package by purl. */
  packages: Map<string, ResolvedPackage>;
}
