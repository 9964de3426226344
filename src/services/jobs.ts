/** Background jobs: started on a cube, polled by id (a job id names its cube, like a memory id). */
import { cubeIdOfJob } from "../core/ids";
import { ApiError } from "../errors";
import type { JobType, JobWire } from "../schemas/jobs";
import type { TenantContext } from "./context";
import { cubeStub, ownCube } from "./cubes";

export async function startJob(ctx: TenantContext, cubeId: string, type: JobType): Promise<JobWire> {
  const ref = await ownCube(ctx, cubeId, "write");
  return cubeStub(ctx.deps, ref).startJob(ref, type);
}

export async function getJob(ctx: TenantContext, jobId: string): Promise<JobWire> {
  const cubeId = cubeIdOfJob(jobId);
  if (!cubeId) throw new ApiError("not_found", "job not found");
  const ref = await ownCube(ctx, cubeId, "read");
  const job = await cubeStub(ctx.deps, ref).job(jobId);
  if (!job) throw new ApiError("not_found", "job not found");
  return job;
}
