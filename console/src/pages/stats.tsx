/**
 * Stats of the chosen cube: memories by state (GET /stats), by type and writes per day (from the latest memories
 * listed, up to a bound), hot vs cold bytes.
 */
import { api } from "../api";
import { BarChart, ColumnChart } from "../charts";
import type { Memory, Page, CubeStats } from "../types";
import { ErrorNote, MEMORY_STATES, MEMORY_TYPES, Section, useLoad } from "../ui";
import { PickCube, useCubeId } from "./cubes";

/** Memories read for the by-type and over-time charts: a few pages, so a big cube stays quick. */
const SAMPLE_PAGES = 4;
const PAGE = 100;
const DAYS = 14;

async function sample(cubeId: string): Promise<{ memories: Memory[]; complete: boolean }> {
  const memories: Memory[] = [];
  let cursor: string | null = null;
  for (let page = 0; page < SAMPLE_PAGES; page++) {
    const result: Page<Memory> = await api<Page<Memory>>("GET", "/v1/memories", {
      query: { cube_id: cubeId, limit: PAGE, cursor, state: [...MEMORY_STATES] },
    });
    memories.push(...result.data);
    cursor = result.next_cursor;
    if (!cursor) return { memories, complete: true };
  }
  return { memories, complete: false };
}

export function StatsView() {
  const cubeId = useCubeId();
  const stats = useLoad(() => (cubeId ? api<CubeStats>("GET", `/v1/cubes/${encodeURIComponent(cubeId)}/stats`) : Promise.resolve(null)), [cubeId]);
  const memories = useLoad(() => (cubeId ? sample(cubeId) : Promise.resolve(null)), [cubeId]);
  if (!cubeId) return <PickCube />;

  const byType = MEMORY_TYPES.map((type) => ({ label: type, value: memories.data?.memories.filter((m) => m.type === type).length ?? 0 }));
  const today = new Date();
  const days = Array.from({ length: DAYS }, (_, index) => {
    const day = new Date(today.getTime() - (DAYS - 1 - index) * 86_400_000).toISOString().slice(0, 10);
    return { label: day, value: memories.data?.memories.filter((m) => m.created_at.startsWith(day)).length ?? 0 };
  });
  const s = stats.data;

  return (
    <Section title="Stats">
      <ErrorNote error={stats.error ?? memories.error} />
      {s ? (
        <p class="summary">
          {s.pinned} pinned · {s.vectors} vectors · {(s.bytes.hot / 1024).toFixed(1)} KiB hot · {(s.bytes.cold / 1024).toFixed(1)} KiB cold
        </p>
      ) : null}
      <div class="charts">
        {s ? <BarChart title="Memories by state" bars={MEMORY_STATES.map((state) => ({ label: state, value: s.states[state] ?? 0 }))} /> : null}
        {memories.data ? <BarChart title={`Memories by type${memories.data.complete ? "" : ` (latest ${memories.data.memories.length})`}`} bars={byType} /> : null}
        {s ? (
          <BarChart
            title="Hot vs cold bytes"
            unit=" B"
            bars={[
              { label: "hot (cube)", value: s.bytes.hot },
              { label: "cold (R2)", value: s.bytes.cold },
            ]}
          />
        ) : null}
        {memories.data ? <ColumnChart title={`Writes per day, last ${DAYS} days`} bars={days} /> : null}
      </div>
    </Section>
  );
}
