// Entry point of the bundled CLI (dist/cli.js).
import { main } from "./cli.js";
import { EXIT, errorMessage } from "./errors.js";

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`rmtabsync: ${errorMessage(err)}\n`);
    process.exitCode = EXIT.failure;
  },
);
