/**
 * @herald/client/binary — the SDK with the binary protocol v2 available
 * (`protocol: 'binary'`, docs/protocol-v2.md). The same API as
 * `@herald/client`; only this entry carries the codec, so an app that
 * imports `@herald/client` alone bundles no binary code at all.
 */
import { HeraldClient as JsonOnlyClient } from './client.js';
import { binaryWire } from './binaryWire.js';
import type { CompressionOption } from './options.js';
import type { WireKind } from './wire.js';

export * from './index.js';

/** HeraldClient with both wire protocols: `json` (default) and `binary`. */
export class HeraldClient extends JsonOnlyClient {
  protected override binaryWire(compression: CompressionOption): WireKind {
    return binaryWire(compression);
  }
}
