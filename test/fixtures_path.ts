/** Directory of the oned XML fixtures (a copy of shared/fixtures kept in the repo). */
export const FIXTURES: string = Deno.env.get("ONEBLK_FIXTURES") ??
  new URL("./fixtures", import.meta.url).pathname;
