import { assert, assertClose, assertEquals, gpuTest, setup } from "../helpers.ts";
import { tinyState } from "./fixtures.ts";
import type { StepConfig } from "../../lib/mugs/step.ts";
import { rand } from "../../lib/tensor/tensor.ts";
import { tidy } from "../../lib/tensor/scope.ts";

await setup();

function build(
  weights = { instance: 1, localGroup: 1, group: 1 },
  step: Partial<StepConfig> = {},
) {
  const state = tinyState({ dropPathRate: 0.1, ringSize: 64, weights, step });
  return { student: state.student, teacher: state.teacher, state };
}

Deno.test({
  name: "mugs step: three finite losses, EMA teacher off the tape, queues and memories advance",
  ...gpuTest,
  fn: async () => {
    const { student, teacher, state } = build();
    const B = 6;
    const images = rand([B, 1, 28, 28], { seed: 3 });
    const name = "backbone.blocks.0.attn.qkv.weight";
    const tBefore = await teacher.stateDict().get(name)!.toArray();
    const protoBefore = await student.stateDict().get("group_head.last_layer.weight_v")!.toArray();
    const sched = { epoch: 0, lr: 1e-3, weightDecay: 0.04, momentum: 0.9 };
    const losses = tidy(() => state.step(images, 1, sched));
    const vals = {
      total: await losses.total.item(),
      instance: await losses.instance!.item(),
      localGroup: await losses.localGroup!.item(),
      group: await losses.group!.item(),
    };
    for (const [k, v] of Object.entries(vals)) {
      assert(Number.isFinite(v) && v > 0, `${k} loss ${v}`);
    }
    assertClose([vals.total], [(vals.instance + vals.localGroup + vals.group) / 3], {
      atol: 1e-5,
      rtol: 1e-5,
    }, "mean");
    // teacher = 0.9 * teacher + 0.1 * student (after the student's update)
    const sAfter = await student.stateDict().get(name)!.toArray();
    const tAfter = await teacher.stateDict().get(name)!.toArray();
    assertClose(tAfter, Array.from(tBefore, (x, i) => 0.9 * x + 0.1 * sAfter[i]), {
      atol: 1e-6,
      rtol: 1e-5,
    }, "EMA");
    assert(teacher.parameters().every((p) => p.grad === null), "the teacher has no gradients");
    // epoch 0: the prototype layer's gradient is cancelled, so it did not move
    assertEquals(
      Array.from(await student.stateDict().get("group_head.last_layer.weight_v")!.toArray()),
      Array.from(protoBefore),
    );
    // queues take both teacher views (2B rows), memories one batch (the student only weak images)
    assertEquals(state.instanceQueue.pointer, 2 * B);
    assertEquals(state.localGroupQueue.pointer, 2 * B);
    assertEquals(state.teacherMemory.pointer, B);
    assert(state.studentMemory.pointer <= B, "student memory writes at most one row per image");
    // epoch 1: the prototype layer trains
    tidy(() => state.step(images, 2, { ...sched, epoch: 1 }));
    const protoAfter = await student.stateDict().get("group_head.last_layer.weight_v")!.toArray();
    assert(
      Array.from(protoAfter).some((v, i) => v !== protoBefore[i]),
      "prototypes move after epoch 0",
    );
  },
});

Deno.test({
  name: "mugs step: a loss weight of 0 removes that branch",
  ...gpuTest,
  fn: async () => {
    const { state } = build({ instance: 1, localGroup: 0, group: 0 });
    const images = rand([4, 1, 28, 28], { seed: 5 });
    const losses = tidy(() =>
      state.step(images, 1, { epoch: 0, lr: 1e-3, weightDecay: 0.04, momentum: 0.99 })
    );
    assertEquals(losses.localGroup, undefined);
    assertEquals(losses.group, undefined);
    assertClose([await losses.total.item()], [await losses.instance!.item()], {
      atol: 1e-6,
      rtol: 1e-6,
    }, "total");
    // nothing of the removed branches ran: no neighbour search, head, queue or memory write
    assertEquals(state.localGroupQueue.pointer, 0);
    assertEquals([state.teacherMemory.pointer, state.studentMemory.pointer], [0, 0]);
    assertEquals(state.instanceQueue.pointer, 8);
    const untouched = state.student.namedParameters().filter(([n]) =>
      n.startsWith("relation.") || n.startsWith("local_group_head.") || n.startsWith("group_head.")
    );
    assert(untouched.length > 0, "the removed branches have parameters");
    for (const [n, p] of untouched) assertEquals(p.grad, null, `${n} has no gradient`);
  },
});

Deno.test({
  name: "mugs step: groupScale 0 keeps the branches running but leaves their loss out",
  ...gpuTest,
  fn: async () => {
    const { state } = build({ instance: 1, localGroup: 1, group: 1 });
    const images = rand([4, 1, 28, 28], { seed: 5 });
    const sched = { epoch: 1, lr: 1e-3, weightDecay: 0.04, momentum: 0.99, groupScale: 0 };
    const losses = tidy(() => state.step(images, 1, sched));
    assertEquals([losses.localGroup, losses.group], [undefined, undefined]);
    assertClose([await losses.total.item()], [await losses.instance!.item()], {
      atol: 1e-6,
      rtol: 1e-6,
    }, "total is the instance loss alone");
    // the queues and memories still fill, so the branches start from real entries
    assertEquals([state.localGroupQueue.pointer, state.teacherMemory.pointer], [8, 4]);
    // half way up the ramp: total = (inst + 0.5 lg + 0.5 group) / 2
    const half = tidy(() => state.step(images, 2, { ...sched, groupScale: 0.5 }));
    const [t, i, l, g] = await Promise.all(
      [half.total, half.instance!, half.localGroup!, half.group!].map((x) => x.item()),
    );
    assertClose([t], [(i + 0.5 * l + 0.5 * g) / 2], { atol: 1e-5, rtol: 1e-5 }, "ramped total");
  },
});

Deno.test({
  name: "mugs step: the swav group loss uses the student alone (no teacher, no centre)",
  ...gpuTest,
  fn: async () => {
    const { state } = build({ instance: 0, localGroup: 0, group: 1 }, {
      groupLoss: "swav",
      pairing: "dino",
    });
    const images = rand([6, 1, 28, 28], { seed: 7 });
    const proto = "group_head.last_layer.weight_v";
    const before = await state.student.stateDict().get(proto)!.toArray();
    const sched = { epoch: 1, lr: 1e-3, weightDecay: 0.04, momentum: 0.99 };
    const losses = tidy(() => state.step(images, 1, sched));
    const v = await losses.group!.item();
    // cosine scores in [-1, 1] at T = 0.1: each log-softmax term lies in [-(20 + log 64), 0]
    assert(Number.isFinite(v) && v > 0 && v < 20 + Math.log(64), `swav loss ${v}`);
    assertEquals(await state.groupLoss.center.toArray(), new Float32Array(64), "centre untouched");
    assertEquals([state.instanceQueue.pointer, state.teacherMemory.pointer], [0, 0]);
    const after = await state.student.stateDict().get(proto)!.toArray();
    assert(Array.from(after).some((x, i) => x !== before[i]), "the prototypes train");
  },
});

Deno.test({
  name:
    "mugs step: the batch's dataset indices go beside the memory entries; a probe returns each query's rows and the sources it saw",
  ...gpuTest,
  fn: async () => {
    const { state } = build();
    const B = 6;
    const sched = { epoch: 0, lr: 1e-3, weightDecay: 0.04, momentum: 0.9 };
    const first = Int32Array.from({ length: B }, (_, i) => 100 + i);
    const l1 = tidy(() =>
      state.step(rand([B, 1, 28, 28], { seed: 3 }), 1, sched, { indices: first })
    );
    assertEquals(l1.neighbours, undefined, "no probe unless asked");
    const t1 = state.teacherMemory.sources;
    assertEquals(Array.from(t1.subarray(0, B)), Array.from(first), "teacher memory: every image");
    assert(t1.subarray(B).every((v) => v === -1), "the random rows stay unknown");
    const s1 = Array.from(state.studentMemory.sources.subarray(0, state.studentMemory.pointer));
    assert(
      s1.every((v, i) => i === 0 || v > s1[i - 1]) && s1.every((v) => first.includes(v)),
      `student memory: its weak images, in batch order (${s1})`,
    );
    const second = Int32Array.from({ length: B }, (_, i) => 200 + i);
    const l2 = tidy(() =>
      state.step(rand([B, 1, 28, 28], { seed: 4 }), 2, sched, {
        indices: second,
        probeNeighbours: true,
      })
    );
    const p = l2.neighbours!;
    const nViews = 2 + state.crops.config.local.count;
    assertEquals(p.teacher.rows.shape, [2 * B, 4], "teacher: two global views, k rows each");
    assertEquals(p.student.rows.shape, [nViews * B, 4], "student: every view");
    assertEquals([p.teacher.rows.dtype, p.student.rows.dtype], ["i32", "i32"]);
    assertEquals(Array.from(p.teacher.sources), Array.from(t1), "the sources before this step");
    assertEquals(
      Array.from(state.teacherMemory.sources.subarray(B, 2 * B)),
      Array.from(second),
      "then this step's images were written",
    );
    for (const r of [p.teacher.rows, p.student.rows]) {
      assert((await r.toArray()).every((v) => v >= 0 && v < 64), "rows of the memory");
      r.dispose();
    }
    // no local-group branch: nothing to probe
    const off = build({ instance: 1, localGroup: 0, group: 1 }).state;
    const l3 = tidy(() =>
      off.step(rand([4, 1, 28, 28], { seed: 5 }), 1, sched, { probeNeighbours: true })
    );
    assertEquals(l3.neighbours, undefined, "no memory search, no probe");
  },
});
