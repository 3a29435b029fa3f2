import type { UpstreamParams } from '../upstream';
import type { GatewayMode, MethodOperation } from './operations';

export interface NormaliseOptions {
  mode: GatewayMode;
  /** The gateway's settings that fill parameters a request leaves out (`x-default-setting`), in webhook mode. */
  settings: Readonly<Record<string, string | undefined>>;
}

/**
 * The parameters to forward for a request the gateway accepted: the documented ones only, each as the schema
 * read it, a left-out one with its documented default (the spec's `default`, or the gateway's setting), and
 * then the method's own normalisation, so that Bitrix24's reading of them is the documented one.
 */
export function normalise(
  operation: MethodOperation,
  request: Readonly<Record<string, unknown>>,
  { mode, settings }: NormaliseOptions,
): UpstreamParams {
  const params: Record<string, unknown> = {};
  for (const parameter of operation.body.parameters.values()) {
    const { name } = parameter;
    if (parameter.upstreamModes && !parameter.upstreamModes[mode]) continue;
    const given = Object.hasOwn(request, name) ? request[name] : undefined;
    const setting = mode === 'webhook' && parameter.defaultSetting ? settings[parameter.defaultSetting] : undefined;
    const value = given ?? parameter.default ?? setting;
    if (value !== undefined) params[name] = value;
  }
  return operation.method.normalise?.(params) ?? params;
}
