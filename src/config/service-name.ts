/**
 * The master.cf service of a pool entry's reply, `smtp1` for
 * `smtp1:[relay.example]:25`: the name feedback's log lines, drains by
 * service and `postbal check` all go by. Pure.
 */
export function serviceOf(value: string): string {
  const colon = value.indexOf(':');
  return colon < 0 ? value : value.slice(0, colon);
}

/** The next hop of an entry's reply, `[relay.example]:25` for `smtp1:[relay.example]:25`; '' when none. */
export function nexthopOf(value: string): string {
  const colon = value.indexOf(':');
  return colon < 0 ? '' : value.slice(colon + 1);
}
