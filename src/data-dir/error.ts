// Apart from the data folder's code, so that whoever reports a start's failure (src/main.ts) recognises it
// without loading SQLite's native module (a gateway with Redis never does).

/** The data folder cannot be used: start refuses with exit 2 and this message (it names GATEWAY_DATA_DIR). */
export class DataDirError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DataDirError';
  }
}
