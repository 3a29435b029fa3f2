// Runs an unmodified @bitrix24/b24jssdk B24Hook against a webhook URL (argv[2]) for each parameter set
// in argv[3] (JSON), and prints one JSON line per call. Trust for a test CA comes from NODE_EXTRA_CA_CERTS.
import { B24Hook } from '@bitrix24/b24jssdk';

const [webhookUrl, cases] = process.argv.slice(2) as [string, string];
const hook = B24Hook.fromWebhookUrl(webhookUrl);
for (const params of JSON.parse(cases) as Record<string, unknown>[]) {
  try {
    const result = await hook.actions.v2.call.make({ method: 'imopenlines.bot.session.transfer', params });
    console.log(JSON.stringify({ ok: result.isSuccess, data: result.getData() }));
  } catch (error) {
    const { code, status } = error as { code?: string; status?: number };
    console.log(JSON.stringify({ ok: false, code, status }));
  }
}
