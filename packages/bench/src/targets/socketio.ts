/**
 * Client side of Socket.IO 4 spoken directly over a raw WebSocket, so the
 * client cost matches the other targets (no socket.io-client in the loop).
 * Wire format: Engine.IO v4 packets (one-digit type prefix: 0 open, 2 ping,
 * 3 pong, 4 message) carrying Socket.IO v5 packets (second digit: 0 CONNECT,
 * 1 DISCONNECT, 2 EVENT, 3 ACK, 4 CONNECT_ERROR), with an optional ack id
 * between the type and the JSON.
 */
import type { ClientProtocol, Inbound } from './types.js';
import { wsBase } from './types.js';

export type EioPacket =
  | { eio: 'open'; handshake: unknown }
  | { eio: 'ping' }
  | { eio: 'pong' }
  | { eio: 'close' }
  | { eio: 'message'; sio: SioPacket }
  | { eio: 'unknown'; raw: string };

export type SioPacket =
  | { type: 'connect'; data: unknown }
  | { type: 'disconnect' }
  | { type: 'event'; id?: number; args: unknown[] }
  | { type: 'ack'; id: number; args: unknown[] }
  | { type: 'connect_error'; data: unknown }
  | { type: 'unknown'; raw: string };

function parseJson(s: string): unknown {
  return s.length === 0 ? undefined : JSON.parse(s);
}

/** Splits "<digits><json>" into the ack id and the JSON text. Namespaces other than "/" are not used. */
function splitId(body: string): { id?: number; json: string } {
  let i = 0;
  while (i < body.length && body.charCodeAt(i) >= 48 && body.charCodeAt(i) <= 57) i++;
  return i === 0 ? { json: body } : { id: Number(body.slice(0, i)), json: body.slice(i) };
}

export function decodeSioPacket(s: string): SioPacket {
  const body = s.slice(1);
  switch (s[0]) {
    case '0':
      return { type: 'connect', data: parseJson(body) };
    case '1':
      return { type: 'disconnect' };
    case '2': {
      const { id, json } = splitId(body);
      const args = parseJson(json);
      if (!Array.isArray(args)) return { type: 'unknown', raw: s };
      return id === undefined ? { type: 'event', args } : { type: 'event', id, args };
    }
    case '3': {
      const { id, json } = splitId(body);
      const args = parseJson(json);
      if (id === undefined || !Array.isArray(args)) return { type: 'unknown', raw: s };
      return { type: 'ack', id, args };
    }
    case '4':
      return { type: 'connect_error', data: parseJson(body) };
    default:
      return { type: 'unknown', raw: s };
  }
}

export function decodeEioPacket(s: string): EioPacket {
  switch (s[0]) {
    case '0':
      return { eio: 'open', handshake: parseJson(s.slice(1)) };
    case '1':
      return { eio: 'close' };
    case '2':
      return { eio: 'ping' };
    case '3':
      return { eio: 'pong' };
    case '4':
      return { eio: 'message', sio: decodeSioPacket(s.slice(1)) };
    default:
      return { eio: 'unknown', raw: s };
  }
}

/** Socket.IO CONNECT to the main namespace with an auth payload: `40{...}`. */
export function encodeConnect(auth: unknown): string {
  return `40${JSON.stringify(auth)}`;
}

/** Socket.IO EVENT, optionally with an ack id: `42[...]` / `42<id>[...]`. */
export function encodeEvent(args: unknown[], ackId?: number): string {
  return `42${ackId === undefined ? '' : String(ackId)}${JSON.stringify(args)}`;
}

export const EIO_PONG = '3';

export const socketioProtocol: ClientProtocol = {
  kind: 'socketio',
  peekKind: 'socketio',
  url(httpBase) {
    // The token goes in the CONNECT packet (Socket.IO v5 auth), not the URL.
    return `${wsBase(httpBase)}/socket.io/?EIO=4&transport=websocket`;
  },
  decode(text, send, token): Inbound {
    let p: EioPacket;
    try {
      p = decodeEioPacket(text);
    } catch {
      return { kind: 'rejected', reason: 'malformed_frame' };
    }
    switch (p.eio) {
      case 'open':
        send(encodeConnect({ token }));
        return { kind: 'none' };
      case 'ping':
        send(EIO_PONG);
        return { kind: 'none' };
      case 'close':
        return { kind: 'rejected', reason: 'eio_close' };
      case 'message': {
        const s = p.sio;
        if (s.type === 'event') {
          if (s.args[0] === 'message') return { kind: 'message', data: s.args[1] };
          return { kind: 'none' };
        }
        if (s.type === 'connect') return { kind: 'ready' };
        if (s.type === 'ack') {
          const r = s.args[0] as { ok?: unknown; error?: unknown } | undefined;
          const ok = r?.ok === true;
          return ok ? { kind: 'reply', id: String(s.id), ok } : { kind: 'reply', id: String(s.id), ok, error: String(r?.error) };
        }
        if (s.type === 'connect_error') return { kind: 'rejected', reason: 'connect_error' };
        if (s.type === 'disconnect') return { kind: 'rejected', reason: 'sio_disconnect' };
        return { kind: 'none' };
      }
      default:
        return { kind: 'none' };
    }
  },
  join(room, id) {
    return encodeEvent(['join', room], Number(id));
  },
};
