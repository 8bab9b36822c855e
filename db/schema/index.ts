export * from './enums';
export * from './identity';
export * from './apps';
export * from './artifacts';
export * from './deployments';
export * from './cli-logins';
