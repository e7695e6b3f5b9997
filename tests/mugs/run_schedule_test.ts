import { assertClose, assertEquals } from "../helpers.ts";

const near = (got: number, want: number, atol: number, what: string) =>
  assertClose([got], [want], { atol, rtol: 0 }, what);
import { runSchedule } from "../../lib/mugs/run_schedule.ts";

const cfg = {
  epochs: 4,
  batchSize: 128,
  lr: 0.0005,
  minLr: 1e-6,
  warmupEpochs: 1,
  weightDecay: 0.04,
  weightDecayEnd: 0.4,
  momentumTeacher: 0.9,
  momentumTeacherEnd: 0.99,
  groupWarmupEpochs: 1.5,
  teacherTemp: 0.04,
  warmupTeacherTemp: 0.02,
  warmupTeacherTempEpochs: 2,
};

Deno.test("run schedule: DINO's per-iteration schedules and the group weights' linear warm-up", () => {
  const perEpoch = 10;
  const s = runSchedule(cfg, perEpoch);
  // learning rate: linear warm-up from 0 to lr * batch / 256 over the first epoch, then cosine
  assertEquals(s.at(0, 0).lr, 0);
  near(s.at(9, 0).lr, (0.0005 * 128) / 256, 1e-15, "lr at the end of the warm-up");
  near(s.at(39, 3).lr, 1e-6, 1e-6, "last lr");
  // weight decay and teacher momentum: cosine from start to end
  near(s.at(0, 0).weightDecay, 0.04, 1e-15, "first weight decay");
  near(s.at(0, 0).momentum, 0.9, 1e-15, "first momentum");
  near(s.at(39, 3).momentum, 0.99, 1e-3, "last momentum");
  near(s.at(20, 2).momentum, 0.9 + 0.09 * 0.5, 1e-12, "momentum half way (the mean)");
  // the group ramp: step / (1.5 epochs of steps), capped at 1
  assertEquals([0, 5, 14, 15, 30].map((i) => s.at(i, 0).groupScale), [0, 5 / 15, 14 / 15, 1, 1]);
  assertEquals(s.at(7, 0).epoch, 0);
  // the teacher temperature: DINO's np.linspace(0.02, 0.04, 2 epochs), then constant
  assertEquals([0, 1, 2, 3].map(s.teacherTemp), [0.02, 0.04, 0.04, 0.04]);
});

Deno.test("run schedule: no group warm-up scales the group weights by 1 from the first step", () => {
  for (const groupWarmupEpochs of [0, undefined]) {
    const s = runSchedule({ ...cfg, groupWarmupEpochs }, 10);
    assertEquals(s.at(0, 0).groupScale, 1);
  }
  // momentumTeacherEnd absent: DINO's 1
  near(
    runSchedule({ ...cfg, momentumTeacherEnd: undefined }, 10).at(39, 3).momentum,
    1,
    1e-3,
    "DINO end",
  );
});
