/** Where a cube keeps things in R2: per tenant and cube, so a deletion can list them by prefix. */
import type { CubeRef } from "./protocol";

/** An archived memory's payload and versions. */
export const archiveKey = (ref: CubeRef, memoryId: string) => `archive/${ref.tenantId}/${ref.cubeId}/${memoryId}.json`;

/** An episode's raw messages. */
export const episodeKey = (ref: CubeRef, episodeId: string) => `episodes/${ref.tenantId}/${ref.cubeId}/${episodeId}.json`;
