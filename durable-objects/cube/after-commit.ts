/**
 * Work that follows a committed write (arming alarms, pushing vectors): its failure is logged, never returned. A 2xx
 * means committed and an error means nothing was (issue 16, item 3), so nothing after the commit may turn the
 * answer into an error; what this work would have done is redone by the next write or alarm.
 */
export async function afterCommit(what: string, work: () => Promise<void>): Promise<void> {
  try {
    await work();
  } catch (error) {
    console.error(`after a committed write: ${what} failed; the write stands`, error);
  }
}
