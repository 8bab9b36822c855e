import { describe, expect, it } from 'vitest';
import { APP_HEALTH_VALUES } from '../../db/schema/apps';
import { APP_HEALTH } from '../../server/contract/outputs';
import { APP_HEALTH_STATES } from '../../server/runtime/port';

describe('the app health vocabulary', () => {
  it('is spelled the same by the runtime port, the schema CHECK and the contract', () => {
    expect([...APP_HEALTH_VALUES]).toEqual([...APP_HEALTH_STATES]);
    expect([...APP_HEALTH]).toEqual([...APP_HEALTH_STATES]);
  });
});
