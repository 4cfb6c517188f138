// Placeholder until the browser bundle lands (packages/client owns this file).
