/**
 * Write coalescing (DESIGN.md §4, issue 20): every frame written to a socket
 * during one turn of the event loop leaves in one `writev` system call.
 *
 * `holdWrites(socket)` corks the socket the first time it is written in a
 * turn and puts it on one module-wide list; a single `setImmediate` per turn
 * uncorks every socket on the list, and Node hands each socket's queued frames
 * to libuv as one writev. Nothing is kept per connection: the queued frames
 * live in the socket's own Writable buffer, so `writableLength` — what the
 * outbound buffer limit (close 4009) reads — still counts them, ordering is the
 * socket's own, and every writer (pre-built fan-out frames and `ws.send` alike)
 * goes through the same queue.
 *
 * Why setImmediate and not process.nextTick / queueMicrotask: each publish
 * (an HTTP request, a bus message, a client frame) runs in its own I/O
 * callback, and a tick or microtask flush ends with that callback, so a
 * socket would get one frame per flush — cork/uncork cost, no saving. The
 * check phase runs once after all the I/O callbacks of a loop iteration, so
 * the frames of every publish handled in that iteration share one write per
 * socket; on an idle loop the check phase follows at once, so a lone frame is
 * not held back (docs/benchmarks.md, "Write coalescing and room batching").
 *
 * While no socket gets a second frame within a turn (each unicast delivery to
 * its own socket), holding saves nothing and makes a frame wait for the rest
 * of its loop iteration: then writes go straight out, and holding comes back
 * only when a socket is seen written twice within one turn — never for a
 * socket that gets one frame per turn (holdWrites below; docs/benchmarks.md,
 * "Unicast never held: write coalescing's probe, fifth round").
 */
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';

/**
 * Held bytes at which a socket's batch is handed over at once. A socket
 * whose reader keeps up then sees its burst taken by the kernel, as without
 * coalescing, and is not closed 4009 merely because one turn queued more than
 * the outbound limit; a 64 KiB writev already amortizes the call.
 */
export const EARLY_FLUSH_BYTES = 64 * 1024;

/**
 * Turns in a row in which no socket got a second frame, after which writes go
 * straight to their socket (see holdWrites): holding them saved nothing.
 */
export const QUIET_TURNS = 16;

/**
 * Direct writes between two probes. A probe watches QUIET_TURNS turns, without
 * holding anything, for a socket written twice before its turn ends.
 */
export const DIRECT_PROBE_WRITES = 256;

/** Sockets corked by `holdWrites` this turn. */
let held: Socket[] = [];
let scheduled = false;
/** Writes this turn to a socket already held: what holding saves. */
let repeats = 0;
let quietTurns = 0;
/** Direct mode: no cork, no flush — every socket got one frame per turn lately. */
let direct = false;
let directWrites = 0;
/** The socket of the last direct write: the same one again may be a burst (a replay, several frames). */
let lastDirect: Socket | undefined;
/** Turns a running probe still watches (0: no probe): direct writes are noted in probeSockets. */
let probeTurns = 0;
/** The current probe turn's end is scheduled (one setImmediate per probe turn with writes). */
let probeScheduled = false;
/**
 * The sockets written during the current probe turn. A set rather than a mark
 * on the socket, so that net.Socket objects keep their shape; it is filled only
 * during a probe turn and emptied at its end.
 */
const probeSockets = new Set<Socket>();

/**
 * Uncorks every socket of a turn's list. A socket ended or destroyed meanwhile
 * has been uncorked already (end() uncorks fully); uncork() on it is a no-op.
 */
function uncorkAll(list: Duplex[]): void {
  for (const s of list) s.uncork();
}

function flush(): void {
  scheduled = false;
  const list = held;
  held = [];
  uncorkAll(list);
  if (repeats > 0) {
    repeats = 0;
    quietTurns = 0;
  } else if (++quietTurns >= QUIET_TURNS) {
    quietTurns = 0;
    direct = true;
    directWrites = 0;
    lastDirect = undefined;
  }
}

/** The check phase of a probe turn: that turn is over; after QUIET_TURNS of them, the probe. */
function endProbeTurn(): void {
  probeScheduled = false;
  probeSockets.clear();
  if (probeTurns > 0 && --probeTurns === 0) {
    directWrites = 0;
    lastDirect = undefined;
  }
}

/**
 * Holds the socket's writes until the end of this event-loop turn (idempotent
 * within a turn). Call before writing; the write then joins the socket's batch.
 *
 * Holding costs a cork, an uncork and a `setImmediate` per turn, and saves a
 * system call only for a socket that gets two or more frames in one turn; a
 * held frame also waits for every other I/O callback of its loop iteration.
 * When QUIET_TURNS turns in a row saved nothing (unicast: each socket one frame
 * per turn), writes go straight to their socket — as without coalescing — and
 * holding resumes only on evidence of a burst within one turn. A direct write
 * costs a compare and a count; every DIRECT_PROBE_WRITES direct writes, and at
 * a socket written twice in a row (maybe in one turn, maybe in two), a probe
 * begins and watches the next QUIET_TURNS turns that write: their writes still
 * go straight out, each socket is noted, and one `setImmediate` per turn ends
 * it (as many as holding cost over those turns, without cork and uncork). A
 * socket written a second time before its turn ends got two frames in one turn
 * (a broadcast burst, a replay): that frame and what follows are held, and
 * holding stays while turns keep repeating a socket.
 * Either way the socket's own Writable keeps the order of its frames and
 * counts what it has not sent.
 */
export function holdWrites(socket: Socket): void {
  if (direct) {
    if (probeTurns === 0) {
      if (socket !== lastDirect && ++directWrites < DIRECT_PROBE_WRITES) {
        lastDirect = socket;
        return;
      }
      probeTurns = QUIET_TURNS;
    }
    if (!probeScheduled) {
      probeScheduled = true;
      setImmediate(endProbeTurn);
    }
    if (!probeSockets.has(socket)) {
      probeSockets.add(socket);
      return;
    }
    // A second frame for this socket within a probe turn: a burst.
    direct = false;
    probeTurns = 0;
    lastDirect = undefined;
  }
  if (socket.writableCorked !== 0) {
    repeats++;
    // A big burst goes to the kernel now rather than piling up here: the
    // bytes held back for one socket stay under EARLY_FLUSH_BYTES + one frame.
    if (socket.writableLength >= EARLY_FLUSH_BYTES) {
      socket.uncork();
      socket.cork();
    }
    return;
  }
  socket.cork();
  held.push(socket);
  if (!scheduled) {
    scheduled = true;
    setImmediate(flush);
  }
}

/** Sockets waiting for this turn's flush (tests). */
export function heldSocketCount(): number {
  return held.length;
}

/** Whether writes currently go straight to their sockets (tests). */
export function writingDirectly(): boolean {
  return direct;
}

/** Whether a probe turn is running (tests). */
export function probing(): boolean {
  return probeTurns > 0;
}

/** New WebSockets held by holdUntilTurnEnd this turn (apart from `held`: they must not sway holdWrites' mode). */
let upgrades: Duplex[] = [];

function releaseUpgrades(): void {
  const list = upgrades;
  upgrades = [];
  uncorkAll(list);
}

/**
 * Holds a new WebSocket's writes until the end of this event-loop turn, always
 * (gateway/admission.ts): ws writes the 101 response at once, the welcome
 * follows a few microtasks later when the engine answers at once (memory), and
 * the two used to be two system calls and two TCP segments. A socket whose
 * welcome waits on a network engine gets its 101 at the end of the turn. Unlike
 * holdWrites, no mode: a connect storm must not count as delivery bursts.
 */
export function holdUntilTurnEnd(socket: Duplex): void {
  socket.cork();
  if (upgrades.push(socket) === 1) setImmediate(releaseUpgrades);
}
