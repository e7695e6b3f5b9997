// A 200-step training loop keeps GPU memory flat: no pool buffer, byte or bind group is added
// after the first steps, and the step's dispatches keep hitting the bind-group cache (the pool
// hands the same buffers to the same roles in every step). The views are the same every step
// (one seed): random views of a 4-image batch change some shapes from step to step (how many
// images are weakly augmented), which adds a few size classes to the pool until each has been
// seen; buffers in use stay flat either way.
import { assert, assertEquals, gpuTest, setup } from "../helpers.ts";
import { tinyState } from "./fixtures.ts";
import { gpuStats, sync } from "../../lib/gpu/device.ts";
import { rand } from "../../lib/tensor/tensor.ts";
import { tidy } from "../../lib/tensor/scope.ts";

await setup();

Deno.test({
  name: "mugs step: 200 steps keep pool buffers, bytes, buffers in use and bind groups flat",
  ...gpuTest,
  fn: async () => {
    const state = tinyState({ dropPathRate: 0.1, ringSize: 32 });
    const images = rand([4, 1, 28, 28], { seed: 5 });
    const sched = { epoch: 1, lr: 1e-3, weightDecay: 0.04, momentum: 0.99 };
    // losses are read back now and then, as a trainer logs them
    const step = async (i: number, read: boolean) => {
      const losses = tidy(() => state.step(images, 7, sched));
      if (read) assert(Number.isFinite(await losses.total.item()), `step ${i}: finite loss`);
      for (const t of Object.values(losses)) if (t && "dispose" in t) t.dispose();
    };
    // warm-up: the queues and memories (32 rows, 8 images per step) wrap around once
    for (let i = 0; i < 20; i++) await step(i, false);
    await sync();
    const before = gpuStats();
    for (let i = 20; i < 220; i++) await step(i, i % 50 === 0);
    await sync();
    const after = gpuStats();
    for (const k of ["buffers", "bytes", "inUse", "bindGroups"] as const) {
      assertEquals(after[k], before[k], `${k} after 200 more steps`);
    }
    const dispatches = after.dispatches - before.dispatches;
    const hits = after.bindGroupHits - before.bindGroupHits;
    assertEquals(hits, dispatches, "bind-group cache hits over 200 steps");
    images.dispose();
  },
});
