/** A valid drone-delivery input (API.md), with any field overridden or added (`faults`, `weightKg`, ...). */
export function droneInput(extra: Record<string, unknown> = {}) {
  return {
    accountId: 'acc-42',
    pickup: { lat: 52.52, lng: 13.405 },
    dropoff: { lat: 52.5, lng: 13.45 },
    weightKg: 2.5,
    priceCents: 1999,
    ...extra,
  };
}
