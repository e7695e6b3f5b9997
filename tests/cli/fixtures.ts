/** A small training checkpoint written the way the trainer writes it, for the CLI tests. */
import { tinyState } from "../mugs/fixtures.ts";
import { saveTrainingState } from "../../lib/mugs/resume.ts";

/** Write a checkpoint of the tiny Mugs state (untrained) into `out/checkpoint`. */
export async function tinyCheckpoint(out: string): Promise<string> {
  const state = tinyState({ dropPathRate: 0, ringSize: 16 });
  await saveTrainingState(`${out}/checkpoint`, state, {
    epoch: 1,
    step: 3,
    config: {
      vit: { ...state.student.backbone.config },
      mean: [0.286],
      std: [0.353],
      evalNetwork: "teacher",
    },
  });
  return `${out}/checkpoint`;
}
