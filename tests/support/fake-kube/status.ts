/** Kubernetes `Status` bodies, as the API server sends them with every error. */

export interface Status {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, never>;
  status: 'Failure' | 'Success';
  message?: string;
  reason?: string;
  details?: { name?: string; group?: string; kind?: string; causes?: Array<{ reason: string; message: string; field: string }> };
  code: number;
}

/** An error the fake answers with: HTTP status plus its Status body. */
export class StatusError extends Error {
  constructor(readonly body: Status) {
    super(body.message);
  }
}

export interface Target {
  group: string;
  resource: string;
  name?: string;
}

const qualified = (t: Target) => (t.group ? `${t.resource}.${t.group}` : t.resource);

type Cause = { reason: string; message: string; field: string };

function failure(code: number, reason: string, message: string, t?: Target, causes?: Cause[]): StatusError {
  const details = t ? { name: t.name, group: t.group || undefined, kind: t.resource, ...(causes ? { causes } : {}) } : undefined;
  return new StatusError({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, details, code });
}

export const notFound = (t: Target) => failure(404, 'NotFound', `${qualified(t)} "${t.name}" not found`, t);
export const conflict = (t: Target) =>
  failure(409, 'Conflict', `Operation cannot be fulfilled on ${qualified(t)} "${t.name}": the object has been modified; please apply your changes to the latest version and try again`, t);
export const badRequest = (message: string) => failure(400, 'BadRequest', message);
export const unauthorized = () => failure(401, 'Unauthorized', 'Unauthorized');
export const unsupportedMediaType = (type: string) => failure(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json, application/merge-patch+json, application/apply-patch+yaml (got ${type})`);
export const pathNotFound = () => failure(404, 'NotFound', 'the server could not find the requested resource');
export const internal = (message = 'Internal error occurred: injected failure') => failure(500, 'InternalError', message);
export const forbidden = (t: Target, verb: string, ns: string) =>
  failure(403, 'Forbidden', `${qualified(t)}${t.name ? ` "${t.name}"` : ''} is forbidden: User "system:serviceaccount:aether-system:aether" cannot ${verb} resource "${t.resource}" in API group "${t.group}" in the namespace "${ns}"`, t);

export function invalid(kind: string, t: Target, causes: Array<{ field: string; message: string }>): StatusError {
  const list = causes.map((c) => ({ reason: 'FieldValueInvalid', message: `Invalid value: ${c.message}`, field: c.field }));
  const text = causes.map((c) => `${c.field}: Invalid value: ${c.message}`).join(', ');
  return failure(422, 'Invalid', `${kind}.${t.group || 'core'} "${t.name}" is invalid: ${text}`, t, list);
}

export const success = (t: Target): Status => ({
  kind: 'Status',
  apiVersion: 'v1',
  metadata: {},
  status: 'Success',
  details: { name: t.name, group: t.group || undefined, kind: t.resource },
  code: 200,
});
