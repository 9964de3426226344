/** The wire shapes the console reads (a subset of /openapi.json's schemas). */
export interface Memory {
  id: string;
  cube_id: string;
  owner: string;
  type: string;
  content: string;
  tags: string[];
  metadata: Record<string, unknown>;
  session_id: string | null;
  source: { kind: string; episode_id: string | null; message_ids: string[]; key_id: string | null; request_id: string | null; reader?: string };
  created_at: string;
  updated_at: string;
  valid_at: string | null;
  invalid_at: string | null;
  expires_at: string | null;
  priority: number;
  importance: number;
  frozen: boolean;
  pinned: boolean;
  watermark: string | null;
  access_count: number;
  version: number;
  state: string;
  supersedes: string | null;
  superseded_by: string | null;
}

export interface Page<T> {
  data: T[];
  next_cursor: string | null;
}

export interface Cube {
  id: string;
  owner: string;
  user_id: string | null;
  agent_id: string | null;
  name: string;
  is_default: boolean;
  memory_count: number;
  created_at: string;
  last_active_at: string;
}

export interface SearchHit extends Memory {
  score: number;
  channels: string[];
  channel_ranks: { channel: string; rank: number; score: number }[];
  rerank_score?: number;
}

export interface Job {
  id: string;
  type: string;
  status: "queued" | "running" | "done" | "failed";
  cube_id: string;
  progress: { done: number; total: number };
  attempts: number;
  error: string | null;
  result: { episode_id?: string; memory_ids?: string[] };
  created_at: string;
  updated_at: string;
}

export interface ApiKey {
  id: string;
  tenant_id: string;
  name: string | null;
  prefix: string;
  scopes: string[];
  created_at: string;
  last_used_at: string | null;
  expires_at: string | null;
  revoked_at: string | null;
  allowed_owners: string[] | null;
  allowed_cubes: string[] | null;
}
