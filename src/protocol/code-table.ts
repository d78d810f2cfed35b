/** Reverse lookup in the protocol's code tables (`{ NAME: u8 }` constants such as ResultStatus). */

/** The name whose value in `table` is `value`, or undefined when no name has it. */
export function nameOfCode<T extends Record<string, number>>(table: T, value: number): (keyof T & string) | undefined {
  return (Object.keys(table) as (keyof T & string)[]).find((k) => table[k] === value);
}
