/**
 * @herald/testkit: what tests, bench and stress share (private, never published).
 * One implementation each of: free ports and bounded waits, child-process
 * ending, private redis-server / Sentinel processes, HS256 minting and
 * verifying, and frame-level WebSocket clients (recording, raw `ws`, raw TCP).
 */
export { freePort } from './ports.js';
export { delay, waitFor, waitUntil, WaitTimeout } from './wait.js';
export { isRunning, killAllChildren, killAndWait, liveChildren, trackChild } from './processes.js';
export { RedisSentinel, RedisServer, redisPing, type RedisServerOptions } from './redisProcess.js';
export { b64urlJson, mintToken, signHs256, signJws, verifyHs256, type DeviceTokenClaims, type Hs256Claims } from './jwt.js';
export { FrameClient, wsUrl, type CloseInfo, type Frame } from './frameClient.js';
export { maskedFrame, openRaw, rawTcpFrame, type RawConn, type RawResult } from './rawClients.js';
