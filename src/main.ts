// Entry point of the bundled CLI (dist/cli.js).
import { main } from "./cli.js";
import { EXIT, errorMessage } from "./errors.js";

// A reader that went away (`rmtabsync status | head -1`) takes the rest of
// the output with it; the work itself is done or goes on, and is no failure.
for (const stream of [process.stdout, process.stderr])
  stream.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code !== "EPIPE") throw err;
  });

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`rmtabsync: ${errorMessage(err)}\n`);
    process.exitCode = EXIT.failure;
  },
);
