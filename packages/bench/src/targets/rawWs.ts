/** Client side of the raw `ws` bench server: Herald's v1 JSON subset on /ws. */
import type { ClientProtocol } from './types.js';
import { wsBase } from './types.js';
import { decodeJsonFrame, joinFrame } from './jsonProtocol.js';

export const rawWsProtocol: ClientProtocol = {
  kind: 'raw',
  peekKind: 'json',
  url(httpBase, user, device, token) {
    return `${wsBase(httpBase)}/ws?token=${encodeURIComponent(token)}&device=${encodeURIComponent(device)}`;
  },
  decode: (text) => decodeJsonFrame(text),
  join: joinFrame,
};
