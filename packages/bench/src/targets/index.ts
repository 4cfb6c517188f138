import type { ClientProtocol, TargetKind } from './types.js';
import { rawWsProtocol } from './rawWs.js';
import { socketioProtocol } from './socketio.js';
import { heraldProtocol } from './herald.js';

export function protocolFor(kind: TargetKind): ClientProtocol {
  switch (kind) {
    case 'raw':
      return rawWsProtocol;
    case 'socketio':
      return socketioProtocol;
    case 'herald':
      return heraldProtocol;
  }
}
