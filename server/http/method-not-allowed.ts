/** 405 for a method the path does not serve, with the methods it does (`Allow`, as HTTP requires). */
export function methodNotAllowed(method: string, allowed: readonly string[]): Response {
  const allow = allowed.join(', ');
  return Response.json({ code: 'method_not_allowed', message: `${method} is not supported here; use ${allow}` }, { status: 405, headers: { allow } });
}

/** A route handler for the methods a Next.js route does not export (Next's own 405 has no body). */
export function refuseOtherMethods(allowed: readonly string[]): (req: Request) => Response {
  return (req) => methodNotAllowed(req.method, allowed);
}
