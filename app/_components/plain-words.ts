/**
 * Machine reasons and codes in plain words, for people. The codes stay visible next to them
 * (people search for them), but the sentence is what tells them what happened.
 */
const DEPLOYMENT_FAILURES: Record<string, string> = {
  fetch_failed: 'The artifact could not be downloaded from storage.',
  digest_mismatch: 'The downloaded bytes did not match the artifact digest, so they were not run.',
  archive_refused: 'The archive was refused while unpacking (unsafe paths, links or sizes).',
  crashed_on_start: 'The app exited while starting. Check its logs for the error it printed.',
  health_check_failed: 'The app started but its health check failed (it answered only with server errors).',
  timeout: 'The app never answered HTTP on its port before the deadline, so the rollout was stopped.',
  queue_unavailable: 'The job queue was unavailable, so the rollout never started. Deploy again.',
  restore_failed: 'After a control-plane restart the app could not be started again.',
  limit_exceeded: 'The app went past one of its limits (memory, processes or disk) and was stopped. The event names which.',
  sandbox_unavailable: 'This host cannot sandbox apps, so the control plane refused to run it. Ask an operator.',
  config_too_large: "The app's config is larger than the runtime can hold (1 MiB on Kubernetes). Remove or shorten variables.",
};

const ARTIFACT_FAILURES: Record<string, string> = {
  size_mismatch: 'The stored object does not have the size the upload declared.',
  object_missing: 'No object was found in storage: the upload was never finished.',
  digest_mismatch_remote: 'The stored object\'s recorded digest differs from the one the upload declared.',
  digest_mismatch_remote_hash: 'The stored bytes do not hash to the digest the upload declared.',
  signature_invalid: 'The signature does not match any active signing key of the app.',
  quota_exceeded: 'Storing it would exceed the app\'s quota.',
  verification_error: 'Verification failed unexpectedly; upload it again.',
};

export function deploymentFailureText(reason: string | null): string | null {
  if (!reason) return null;
  return DEPLOYMENT_FAILURES[reason] ?? `The rollout failed (${reason.replaceAll('_', ' ')}).`;
}

export function artifactFailureText(reason: string | null): string | null {
  if (!reason) return null;
  return ARTIFACT_FAILURES[reason] ?? reason.replaceAll('_', ' ');
}

/** A title per error code (server/contract/errors.ts); the server's message follows it. */
export const ERROR_TITLES: Record<string, string> = {
  bad_request: 'That input is not valid',
  unauthorized: 'Please sign in again',
  forbidden: 'Not allowed',
  quota_exceeded: 'Quota exceeded',
  not_found: 'Not found',
  conflict: 'Conflict',
  idempotency_conflict: 'Conflict',
  payload_too_large: 'Too large',
  not_implemented: 'Not available here',
  service_unavailable: 'Temporarily unavailable',
  internal: 'Something went wrong on our side',
};
