/** What a run records: the API's answers to publishes and what each device's app received. */

/** One HTTP publish and the API's answer. */
export interface PublishRecord {
  /** Run-unique publish id, carried in the message data as `p`. */
  pid: number;
  tenant: string;
  users: string[];
  /** Set for a user+device target. */
  device?: string;
  /** HTTP status; 0 when no answer came (connection error, timeout): ambiguous. */
  status: number;
  /** user → seq, from a 200 answer. */
  seq?: Record<string, number>;
  /** The publish's position in the run (for "published after the device was first online"). */
  index: number;
}

/** One reliable message as the SDK handed it to the app. */
export interface Delivered {
  seq: number;
  pid: number | undefined;
  /** The tenant written in the data by the publisher (cross-tenant check). */
  tenant: string | undefined;
  at: number;
}

/** Everything one device (one SDK client) saw. */
export interface DeviceRecording {
  key: string;
  tenant: string;
  user: string;
  device: string;
  /** Publisher index at this device's first welcome: earlier publishes are not owed to it (new devices start at the inbox tip). */
  sinceIndex: number | undefined;
  delivered: Delivered[];
  /** Ephemeral messages: tenant written in their data. */
  ephemeral: { tenant: string | undefined; at: number }[];
  unrecovered: number;
  closeCodes: number[];
  welcomes: number;
  duplicatesDropped: number;
  /** How the client stopped, when it did on its own. */
  stopped?: string;
}
