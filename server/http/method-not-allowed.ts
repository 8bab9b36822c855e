/** 405 for a method the path does not serve, with the methods it does (`Allow`, as HTTP requires). */
export function methodNotAllowed(method: string, allowed: readonly string[]): Response {
  const allow = allowed.join(', ');
  return Response.json({ code: 'method_not_allowed', message: `${method} is not supported here; use ${allow}` }, { status: 405, headers: { allow } });
}

