/** Client side of Herald: the FIXED /ws endpoint and text protocol v1. */
import type { ClientProtocol } from './types.js';
import { wsBase } from './types.js';
import { decodeJsonFrame, joinFrame } from './jsonProtocol.js';

export const heraldProtocol: ClientProtocol = {
  kind: 'herald',
  peekKind: 'json',
  url(httpBase, _user, device, token) {
    return `${wsBase(httpBase)}/ws?token=${encodeURIComponent(token)}&device=${encodeURIComponent(device)}&platform=other`;
  },
  decode: (text) => decodeJsonFrame(text),
  join: joinFrame,
  ack: (seq) => `{"type":"ack","seq":${seq}}`,
};
