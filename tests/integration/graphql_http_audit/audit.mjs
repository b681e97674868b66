// Runs graphql-http's auditServer against the URL given and prints its results as JSON lines.
import { auditServer } from 'graphql-http';

const url = process.argv[2];
const results = await auditServer({ url });
for (const result of results) {
  const line = { id: result.id, name: result.name, status: result.status };
  if (result.status !== 'ok') {
    line.reason = result.reason;
    line.response = result.response ? await result.response.text().catch(() => '') : undefined;
  }
  console.log(JSON.stringify(line));
}
