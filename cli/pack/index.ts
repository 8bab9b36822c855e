export { collectFiles, sortEntries } from './collect.js';
export type { PackDirectoryEntry, PackEntry, PackFileEntry, PackSymlinkEntry } from './collect.js';
export { ARTIFACT_FILE_RE, IGNORE_FILE, packTempPath } from './ignore-rules.js';
export { buildManifest, writeManifest } from './manifest.js';
export type { Manifest, ManifestFile } from './manifest.js';
export { packArtifact } from './pack.js';
export type { PackOptions, PackResult } from './pack.js';
export { FIXED_MTIME } from './tar-records.js';
