import { appPids } from '../support/app-processes';

/**
 * Kills the app processes carrying `marker` that no state file names, such as an instance a
 * killed worker started and never recorded: `fp.close()` only stops the recorded ones.
 */
export async function killUnrecordedApps(marker: string): Promise<void> {
  for (const pid of await appPids(marker)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }
}
