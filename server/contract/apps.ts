import { z } from 'zod';
import { APP_NAME_RE, APP_NAME_RULE } from './app-name';

export { APP_NAME_RE, appNameFromPackageName } from './app-name';

export const ZAppName = z.string().regex(APP_NAME_RE, APP_NAME_RULE);
