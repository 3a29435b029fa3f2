import { defineConfig } from '@hey-api/openapi-ts';

// `make generate` runs this; `make check-generated` runs it into a scratch folder (OPENAPI_TS_OUTPUT)
// and compares. The output in generated/ is committed and never edited by hand.
export default defineConfig({
  input: './openapi/openapi.yaml',
  output: {
    path: process.env.OPENAPI_TS_OUTPUT ?? './generated',
    clean: true,
  },
  plugins: [
    '@hey-api/client-fetch',
    '@hey-api/typescript',
    // Bitrix24 writes datetimes with an offset (`+02:00`), which RFC 3339 allows.
    { name: 'zod', metadata: true, dates: { offset: true } },
    { name: '@hey-api/sdk', validator: false },
  ],
});
