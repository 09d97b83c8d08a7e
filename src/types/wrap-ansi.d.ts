/** wrap-ansi 7 (CommonJS, the version yargs' cliui brings) ships no types; the one function the text report uses. */
declare module 'wrap-ansi' {
  function wrapAnsi(input: string, columns: number, options?: { hard?: boolean; wordWrap?: boolean; trim?: boolean }): string;
  export = wrapAnsi;
}
