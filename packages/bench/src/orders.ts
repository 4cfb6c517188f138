/** Realistic POS orders as JSON text, deterministic per seed: the payloads of the codec and storage benchmarks. */

/** Deterministic PRNG (mulberry32) so every run measures the same messages. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const ITEMS = ['Flat white', 'Cappuccino', 'Croissant', 'Club sandwich', 'Caesar salad', 'Orange juice', 'Margherita pizza', 'Cheeseburger', 'Fries', 'Sparkling water', 'Tiramisu', 'Green tea'];
const NOTES = ['', '', '', 'no onions', 'extra hot', 'gluten free', 'sauce on the side', 'allergy: nuts'];
const MODS = ['oat milk', 'extra shot', 'no ice', 'well done', 'large', 'decaf'];

/** One POS order as JSON text, grown line by line to about `bytes`. */
export function orderJson(r: () => number, n: number, bytes: number): string {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const lines: Record<string, unknown>[] = [];
  const order = {
    order_id: `ord_${(1e9 + Math.floor(r() * 9e9)).toString(36)}`,
    location: { id: `loc_${Math.floor(r() * 500)}`, name: 'Harbour St.' },
    channel: pick(['pos', 'web', 'kiosk', 'delivery']),
    table: Math.floor(r() * 40) + 1,
    guests: Math.floor(r() * 6) + 1,
    status: 'submitted',
    currency: 'EUR',
    created_at: new Date(1763700000000 + n * 1000).toISOString(),
    server: { id: `emp_${Math.floor(r() * 90)}`, name: pick(['Ana', 'Bo', 'Chen', 'Dara', 'Eli']) },
    lines,
    totals: { subtotal_cents: 0, tax_cents: 0, total_cents: 0 },
  };
  let subtotal = 0;
  while (JSON.stringify(order).length < bytes) {
    const price = 150 + Math.floor(r() * 2500);
    const qty = 1 + Math.floor(r() * 3);
    subtotal += price * qty;
    lines.push({
      line_id: lines.length + 1,
      sku: `SKU-${Math.floor(r() * 5000)}`,
      name: pick(ITEMS),
      qty,
      unit_price_cents: price,
      modifiers: r() < 0.4 ? [pick(MODS)] : [],
      note: pick(NOTES),
      course: pick(['drinks', 'starter', 'main', 'dessert']),
    });
    order.totals = { subtotal_cents: subtotal, tax_cents: Math.round(subtotal * 0.1), total_cents: Math.round(subtotal * 1.1) };
  }
  return JSON.stringify(order);
}
