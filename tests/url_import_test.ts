/**
 * `mod.ts` imported by http URL: a static file server on 127.0.0.1 serves the checkout,
 * a subprocess imports mod.ts from it and multiplies two matrices on the GPU.
 */
import { assert, assertEquals, serveRepo } from "./helpers.ts";

Deno.test({
  name: "url import: mod.ts over http multiplies matrices on the GPU",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const server = serveRepo();
    try {
      const port = new URL(server.origin).port;
      const url = `${server.origin}/mod.ts`;
      const script = `
        const { init, tensor } = await import(${JSON.stringify(url)});
        await init();
        const a = tensor([[1, 2, 3], [4, 5, 6]]);
        const b = tensor([[7, 8], [9, 10], [11, 12]]);
        console.log(JSON.stringify(Array.from(await a.matmul(b).toArray())));
      `;
      const cmd = new Deno.Command(Deno.execPath(), {
        args: [
          "eval",
          "--no-config",
          "--no-lock",
          `--allow-import=127.0.0.1:${port}`,
          "--allow-env",
          "--allow-read",
          script,
        ],
        env: { DENO_DIR: await Deno.makeTempDir({ prefix: "mugs-url-" }) },
        stdout: "piped",
        stderr: "piped",
      });
      const out = await cmd.output();
      const stdout = new TextDecoder().decode(out.stdout).trim();
      const stderr = new TextDecoder().decode(out.stderr);
      assert(out.success, `subprocess failed: ${stderr}`);
      assertEquals(stdout.split("\n").pop(), JSON.stringify([58, 64, 139, 154]), "product");
      assert(server.served.some((p) => p.endsWith(".wgsl")), "shaders were not fetched over http");
    } finally {
      await server.close();
    }
  },
});
