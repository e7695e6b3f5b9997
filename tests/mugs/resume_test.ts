import { assert, assertEquals, assertSameBits, gpuTest, setup } from "../helpers.ts";
import { loadCheckpoint, saveCheckpoint } from "../../lib/io/checkpoint.ts";
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

Deno.test({
  name:
    "mugs resume: the memories' dataset indices are restored; a checkpoint without them resumes with unknown (-1) images",
  ...gpuTest,
  fn: async () => {
    const s = tinyState({ dropPathRate: 0, ringSize: 16 });
    const indices = Int32Array.of(4, 8, 15, 16);
    tidy(() => void s.step(rand([4, 1, 28, 28], { seed: 2 }), 1, sched(0), { indices }));
    const dir = await Deno.makeTempDir({ prefix: "mugs-resume-sources-" });
    await saveTrainingState(`${dir}/new`, s, { epoch: 0, step: 1 });
    const back = tinyState({ dropPathRate: 0, ringSize: 16 });
    await restoreTrainingState(`${dir}/new`, back);
    for (const m of ["teacherMemory", "studentMemory"] as const) {
      assertEquals(Array.from(back[m].sources), Array.from(s[m].sources), `${m} sources`);
    }
    assertEquals(Array.from(back.teacherMemory.sources.subarray(0, 4)), Array.from(indices));
    // an older checkpoint: the same state without the sources tensors
    const ck = await loadCheckpoint(`${dir}/new`);
    const tensors = new Map([...ck.tensors].filter(([n]) => !n.endsWith(".sources")));
    assertEquals(ck.tensors.size - tensors.size, 2, "two sources tensors were saved");
    await saveCheckpoint(`${dir}/old`, { tensors, meta: ck.meta });
    const old = tinyState({ dropPathRate: 0, ringSize: 16 });
    await restoreTrainingState(`${dir}/old`, old);
    assert(old.teacherMemory.sources.every((v) => v === -1), "unknown images");
    assertSameBits(
      (await old.teacherMemory.state()).data,
      (await s.teacherMemory.state()).data,
      "the rows themselves are restored",
    );
    await Deno.remove(dir, { recursive: true });
  },
});
