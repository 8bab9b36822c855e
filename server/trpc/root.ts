import { createCallerFactory, createTRPCRouter } from './init';
import { adminRouter } from './routers/admin.router';
import { appsRouter } from './routers/apps.router';
import { authRouter } from './routers/auth.router';
import { configRouter } from './routers/config.router';
import { consoleRouter } from './routers/console.router';
import { artifactsRouter } from './routers/artifacts.router';
import { auditRouter } from './routers/audit.router';
import { deploymentsRouter } from './routers/deployments.router';
import { keysRouter } from './routers/keys.router';
import { sessionRouter } from './routers/session.router';
import { teamsRouter } from './routers/teams.router';

export const appRouter = createTRPCRouter({
  session: sessionRouter,
  apps: appsRouter,
  config: configRouter,
  teams: teamsRouter,
  artifacts: artifactsRouter,
  deployments: deploymentsRouter,
  keys: keysRouter,
  auth: authRouter,
  console: consoleRouter,
  admin: adminRouter,
  audit: auditRouter,
});

/** The type the CLI and the portal import (type-only) to get end-to-end types. */
export type AppRouter = typeof appRouter;

export const createCaller = createCallerFactory(appRouter);
