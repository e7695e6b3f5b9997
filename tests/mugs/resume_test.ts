import { assert, assertEquals, gpuTest, setup } from "../helpers.ts";
import type { MugsState } from "../../lib/mugs/step.ts";
import { restoreTrainingState, saveTrainingState } from "../../lib/mugs/resume.ts";
import { tinyState } from "./fixtures.ts";
import { rand } from "../../lib/tensor/tensor.ts";
import { tidy } from "../../lib/tensor/scope.ts";
import { toHost } from "../../lib/io/weights.ts";

await setup();

function build(): MugsState {
  return tinyState({ dropPathRate: 0.2, ringSize: 32 });
}

const sched = (i: number) => ({
  epoch: i < 2 ? 0 : 1,
  lr: 1e-3 * (i + 1),
  weightDecay: 0.04,
  momentum: 0.99,
});

async function weights(s: MugsState): Promise<Map<string, number[]>> {
  const out = new Map<string, number[]>();
  for (
    const [n, t] of await toHost(
      [...s.student.stateDict(), ...s.teacher.stateDict().entries()].map((
        [n, t],
        i,
      ) => [`${i}:${n}`, t]),
    )
  ) {
    out.set(n, Array.from(t.data));
  }
  return out;
}

Deno.test({
  name:
    "mugs resume: 4 steps straight equal 2 steps, save, restore into a fresh state, 2 steps (bit for bit)",
  ...gpuTest,
  fn: async () => {
    const images = rand([4, 1, 28, 28], { seed: 9 });
    const straight = build();
    for (let i = 0; i < 4; i++) tidy(() => void straight.step(images, 100 + i, sched(i)));
    const want = await weights(straight);

    const first = build();
    for (let i = 0; i < 2; i++) tidy(() => void first.step(images, 100 + i, sched(i)));
    const dir = await Deno.makeTempDir({ prefix: "mugs-resume-" });
    await saveTrainingState(dir, first, { epoch: 1, step: 2 });
    const resumed = build();
    const meta = await restoreTrainingState(dir, resumed);
    assertEquals([meta.epoch, meta.step], [1, 2]);
    for (let i = 2; i < 4; i++) tidy(() => void resumed.step(images, 100 + i, sched(i)));
    const got = await weights(resumed);
    assertEquals(got.size, want.size, "tensor count");
    for (const [n, w] of want) {
      const g = got.get(n)!;
      assert(g.every((v, i) => Object.is(v, w[i])), `${n} differs after resume`);
    }
    assertEquals(resumed.instanceQueue.pointer, straight.instanceQueue.pointer);
    assertEquals(resumed.studentMemory.pointer, straight.studentMemory.pointer);
    await Deno.remove(dir, { recursive: true });
  },
});
